package parallel

import (
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

func TestPlanParallel(t *testing.T) {
	none := platform.Job{}
	cases := []struct {
		available int
		pureGo    bool
		requested int
		batch     int
		wantN     int
		wantPer   int
		wantErr   string
	}{
		{1, true, 0, 128, 1, 128, ""},
		{1, true, 4, 128, 0, 0, "pure-Go backend has one device; several need XLA: GOMLX_BACKEND=xla:cpu"},
		{4, false, 0, 256, 4, 64, ""},
		{4, false, 2, 256, 2, 128, ""},
		{4, false, 8, 256, 0, 0, "8 devices asked for, but the backend has 4"},
		{4, false, 99, 256, 0, 0, "99 devices asked for, but the backend has 4"},
		{4, false, 3, 128, 0, 0, "batch size 128 does not split evenly over 3 devices (each device takes an equal share of every step): use 126 or 129"},
		{4, false, 3, 129, 3, 43, ""},
		{4, false, 0, 250, 0, 0, "use 248 or 252"},
		{4, false, 0, 3, 0, 0, "smaller than the 4 devices"},
		{2, false, -1, 64, 0, 0, "≥ 0"},
		{2, false, 0, 0, 0, 0, "batch size must be ≥ 1"},
	}
	for _, c := range cases {
		p, err := plan(c.available, c.pureGo, false, c.requested, c.batch, none)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: want error containing %q, got %v", c, c.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if p.N() != c.wantN || p.PerDevice != c.wantPer || p.PerDevice*p.N() != c.batch {
			t.Errorf("%+v: got %d devices × %d", c, p.N(), p.PerDevice)
		}
		for i, d := range p.Devices {
			if int(d) != i {
				t.Errorf("devices %v", p.Devices)
			}
		}
		if p.Distributed() != (c.wantN > 1) {
			t.Errorf("Distributed() wrong for %d devices", c.wantN)
		}
	}
}

func TestPlanParallelNamesSlurm(t *testing.T) {
	_, err := plan(2, false, false, 4, 256, platform.Job{GPUs: 2, GPUsFrom: "SLURM_GPUS_ON_NODE=2"})
	if err == nil || !strings.Contains(err.Error(), "SLURM gave this job 2 GPU(s)") || !strings.Contains(err.Error(), "--gres=gpu:4") {
		t.Fatalf("want a SLURM hint, got %v", err)
	}
	p, err := plan(2, false, false, 0, 256, platform.Job{GPUs: 2, GPUsFrom: "SLURM_GPUS_ON_NODE=2"})
	if err != nil || !strings.Contains(p.Why, "SLURM job GPUs: 2") {
		t.Fatalf("%v %v", p, err)
	}
	// Outside SLURM, CUDA's mask, as the choice carries it, says why fewer GPUs show.
	_, err = plan(1, false, false, 2, 256, platform.Job{VisibleDevices: "3"})
	if err == nil || !strings.Contains(err.Error(), "CUDA_VISIBLE_DEVICES=3 limits what this process sees") {
		t.Fatalf("want CUDA's mask named, got %v", err)
	}
}

// TestNewReadsTheChoicesJob: New takes the job from the choice it is handed, not from the environment.
func TestNewReadsTheChoicesJob(t *testing.T) {
	t.Setenv("SLURM_GPUS_ON_NODE", "8") // not this test's job: must not be read
	c := &platform.Choice{Backend: fakeBackend{n: 2}, Job: platform.Job{GPUs: 2, GPUsFrom: "SLURM_JOB_GPUS=0,1"}}
	_, err := New(c, 4, 256)
	if err == nil || !strings.Contains(err.Error(), "SLURM gave this job 2 GPU(s) (SLURM_JOB_GPUS=0,1)") {
		t.Fatalf("want the choice's job named, got %v", err)
	}
	if _, err := New(nil, 1, 8); err == nil || !strings.Contains(err.Error(), "no backend") {
		t.Fatalf("a nil choice: %v", err)
	}
}

func TestMeshAndSharding(t *testing.T) {
	p, err := plan(4, false, false, 0, 64, platform.Job{})
	if err != nil {
		t.Fatal(err)
	}
	mesh, err := p.Mesh()
	if err != nil {
		t.Fatal(err)
	}
	if mesh.NumDevices() != 4 || mesh.AxesNames()[0] != DataAxis {
		t.Fatalf("mesh %s", mesh)
	}
	batch, repl, err := p.BatchSharding()
	if err != nil {
		t.Fatal(err)
	}
	if batch.NumDevicesShardingAxis(0) != 4 || !repl.IsReplicated() || batch.IsReplicated() {
		t.Fatalf("sharding: batch %s, replicated %s", batch, repl)
	}
}

// TestPlanXLACPU: XLA's CPU devices share the host's cores: by default one trains, and several when asked.
func TestPlanXLACPU(t *testing.T) {
	p, err := plan(4, false, true, 0, 128, platform.Job{})
	if err != nil || p.N() != 1 || p.PerDevice != 128 || !strings.Contains(p.Why, "share the host's") {
		t.Fatalf("default on xla:cpu: %+v %v", p, err)
	}
	p, err = plan(4, false, true, 4, 128, platform.Job{})
	if err != nil || p.N() != 4 || p.PerDevice != 32 {
		t.Fatalf("4 of xla:cpu's devices: %+v %v", p, err)
	}
}

// fakeBackend answers what New asks of a backend, as XLA on n GPUs would; nothing else works.
type fakeBackend struct {
	compute.Backend
	n int
}

func (fakeBackend) IsCUDA() bool      { return true }
func (fakeBackend) String() string    { return "xla" }
func (b fakeBackend) NumDevices() int { return b.n }
