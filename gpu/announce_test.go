package gpu

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// cudaBackend answers what platform.IsCUDA asks as XLA on a GPU does; nothing else works.
type cudaBackend struct{ compute.Backend }

func (cudaBackend) IsCUDA() bool    { return true }
func (cudaBackend) String() string  { return "xla" }
func (cudaBackend) NumDevices() int { return 1 }

// TestCPUNoticeInASlurmJob: a SLURM job on the CPU says so, with why: it asked for no GPU, its GPUs cannot be
// used, its GPU backend failed, or GOMLX_BACKEND asked for the CPU; outside a job, or on a GPU, nothing.
func TestCPUNoticeInASlurmJob(t *testing.T) {
	in := func(c platform.Choice, j platform.Job) *platform.Choice { c.Job = j; return &c }
	cpu := platform.Choice{Name: "xla:cpu", Reason: "no CUDA plugin found in ~/.local; using XLA's CPU plugin"}
	job := platform.Job{ID: "424242"}
	n := CPUNotice(in(cpu, job))
	for _, w := range []string{"SLURM job 424242 computes on the CPU (backend xla:cpu)", "asked for no GPU", "--gres=gpu:1", cpu.Reason} {
		if !strings.Contains(n, w) {
			t.Errorf("no GPU asked: notice lacks %q: %q", w, n)
		}
	}
	if strings.Count(n, "\n") != 1 || !strings.HasSuffix(n, "\n") {
		t.Errorf("want one line: %q", n)
	}
	given := platform.Job{ID: "7", GPUs: 1, GPUsFrom: "SLURM_GPUS_ON_NODE=1"}
	if n := CPUNotice(in(cpu, given)); !strings.Contains(n, "was given 1 GPU(s) (SLURM_GPUS_ON_NODE=1) but none can be used") {
		t.Errorf("GPUs given, none usable: %q", n)
	}
	failed := platform.Choice{Name: "go", Reason: "CUDA was found but its backend failed to start (CUDA_ERROR_NO_DEVICE)",
		Warning: "CUDA was chosen (…) but its backend failed to start: CUDA_ERROR_NO_DEVICE"}
	if n := CPUNotice(in(failed, given)); !strings.Contains(n, "GPU backend could not be used: CUDA was chosen") ||
		!strings.Contains(n, "CUDA_ERROR_NO_DEVICE") {
		t.Errorf("GPU backend failed: %q", n)
	}
	byHand := platform.Choice{Name: "go", Reason: BackendEnv + "=go is set"}
	if n := CPUNotice(in(byHand, job)); !strings.Contains(n, BackendEnv+"=go is set") || strings.Contains(n, "asked for no GPU") {
		t.Errorf("GOMLX_BACKEND=go: %q", n)
	}
	if n := CPUNotice(&cpu); n != "" {
		t.Errorf("outside a job: %q", n)
	}
	if n := CPUNotice(in(platform.Choice{Name: "xla:cuda", Backend: cudaBackend{}}, given)); n != "" {
		t.Errorf("on a GPU: %q", n)
	}
}

// TestNewCarriesTheJob: the job the options name (the edge read it from SLURM's environment) is the
// choice's, for the libraries handed the choice.
func TestNewCarriesTheJob(t *testing.T) {
	j := platform.Job{ID: "5", GPUs: 2, GPUsFrom: "SLURM_GPUS_ON_NODE=2", Facts: map[string]string{"SLURM_JOB_ID": "5"}}
	c, err := New(Options{Backend: "go", Job: j})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Backend.Finalize()
	if c.Job.ID != "5" || c.Job.GPUs != 2 || c.Job.Facts["SLURM_JOB_ID"] != "5" {
		t.Errorf("the choice's job is %+v, want %+v", c.Job, j)
	}
}

// TestCellAnnouncements: in a kernel session the first cell announces the backend in full; a later cell
// with the same GPU choice prints nothing; a cell that falls back to the CPU says so in that cell, in full
// the first time and in one line in each later cell; a changed choice says what it was.
func TestCellAnnouncements(t *testing.T) {
	b, err := newWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	dir := t.TempDir()
	cell := func(c *platform.Choice) string {
		var w bytes.Buffer
		announceIn(&w, dir, c)
		return w.String()
	}
	onCPU := &platform.Choice{Backend: b, Name: "go", Reason: "GOMLX_BACKEND=go is set"}
	if out := cell(onCPU); out != announcement(onCPU) {
		t.Fatalf("first cell: want the announcement, got %q", out)
	}
	if out := cell(onCPU); out != "" {
		t.Fatalf("same choice, no fallback: want silence, got %q", out)
	}
	fallback := &platform.Choice{Backend: b, Name: "go", Reason: "CUDA was found but its backend failed to start (out of memory)",
		Warning: "CUDA was chosen but its backend failed to start: out of memory"}
	out := cell(fallback)
	if !strings.Contains(out, "WARNING: running on the CPU, not the GPU") || !strings.Contains(out, "choice changed") {
		t.Fatalf("the cell that falls back: want the full warning, got %q", out)
	}
	for range 2 {
		out = cell(fallback)
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, "this cell computes on the CPU (backend go), not the GPU") ||
			!strings.Contains(out, "out of memory") {
			t.Fatalf("each later cell on the fallback: want one line saying so, got %q", out)
		}
	}
	onGPU := &platform.Choice{Backend: cudaBackendWithDevices{b}, Name: "xla:cuda", Reason: "CUDA plugin /p and NVML sees 1 GPU"}
	if out := cell(onGPU); !strings.Contains(out, "the backend changed since an earlier cell: xla:cuda, was go") ||
		!strings.Contains(out, "gonbgpu: backend xla:cuda") {
		t.Fatalf("back on the GPU: %q", out)
	}
	if out := cell(fallback); !strings.Contains(out, "changed since an earlier cell: go, was xla:cuda") || !strings.Contains(out, "WARNING") {
		t.Fatalf("a fallback after a GPU cell must show in full in that cell: %q", out)
	}
	var w bytes.Buffer // outside a notebook (no kernel folder): every process announces
	announceIn(&w, "", fallback)
	if w.String() != announcement(fallback) {
		t.Fatalf("outside a notebook: %q", w.String())
	}
}

// cudaBackendWithDevices is a working backend that says it is CUDA, for the announcement's description.
type cudaBackendWithDevices struct{ compute.Backend }

func (cudaBackendWithDevices) IsCUDA() bool { return true }
