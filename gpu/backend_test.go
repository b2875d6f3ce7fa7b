package gpu

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// machine makes Choose see a made-up machine: these plugins found, this GPU presence, and NVML describing
// these GPUs (nil: NVML not loadable). Plugins are not checked in a child; links go to a fresh cache.
func machine(t *testing.T, found []*plugin.Plugin, gpus nvidia.Presence, described []platform.Device) {
	t.Helper()
	oldFind, oldDetect, oldCheck, oldCPU := findPlugins, detectGPUs, checkPlugins, findCPU
	findCPU = func(xlacpu.Places) *cpuPlugin { return noCPU("") }
	findPlugins = func() *plugin.Search {
		return &plugin.Search{Found: found, Searched: []string{"$CONDA_PREFIX (/x): /x/lib", "~/.local: /h/.local/lib"}}
	}
	gpus.GPUs = described
	detectGPUs = func() nvidia.Presence { return gpus }
	checkPlugins = false
	t.Setenv("GONBGPU_CACHE_DIR", filepath.Join(t.TempDir(), "cache"))
	t.Cleanup(func() {
		findPlugins, detectGPUs, checkPlugins, findCPU = oldFind, oldDetect, oldCheck, oldCPU
	})
}

// oneGPU is a GPU node as NVML describes it, with no plugin installed.
var oneGPU = nvidia.Presence{Count: 1, How: "NVML sees 1 GPU(s) this process can use", DeviceFiles: 1, DriverCUDA: 13000}

var h200 = []platform.Device{{Index: 0, Kind: platform.GPU, Name: "NVIDIA H200", MemoryTotal: 140 << 30, MemoryFree: 68 << 30,
	UUID: "GPU-cccccccc", Source: "nvml"}}

// freshDefault resets the process's default backend, as in a new process (also under -count), and
// gives a buffer to announce it on (see DefaultWith).
func freshDefault(t *testing.T) *bytes.Buffer {
	t.Helper()
	reset := func() { defaultOnce, defaultChoice, defaultErr = sync.Once{}, nil, nil }
	reset()
	t.Cleanup(reset)
	return &bytes.Buffer{}
}

// envOptions reads the Options from this test's environment, as a command does.
func envOptions(t *testing.T) Options {
	t.Helper()
	o, err := OptionsFromEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestDefaultPureGo creates the process backend with no GPU in sight, checks the announcement, and runs a
// computation on it.
func TestDefaultPureGo(t *testing.T) {
	machine(t, nil, nvidia.Presence{How: "no /dev/nvidia* device files"}, nil)
	buf := freshDefault(t)
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "") // gpu-check requires the GPU for the other tests; this one is about the CPU
	c, err := DefaultWith(envOptions(t), buf)
	if err != nil {
		t.Fatal(err)
	}
	if !c.PureGo() || c.Name != "go" || c.Config != "go" || !strings.Contains(c.Reason, "no CUDA plugin found in $CONDA_PREFIX (/x), ~/.local") {
		t.Fatalf("want the pure-Go backend here, got %+v", c)
	}
	if c2, err := Default(); err != nil || c2 != c { // second call: the same choice, no second announcement
		t.Fatal(c2, err)
	}
	if Backend() != c.Backend {
		t.Fatal("Backend() must be Default()'s backend")
	}
	out := buf.String()
	if strings.Count(out, "gonbgpu: backend go (pure Go on the host CPU") != 1 || !strings.Contains(out, "no CUDA plugin found") {
		t.Fatalf("announcement: %q", out)
	}
	y := graph.MustExecOnce(c.Backend, func(x *graph.Node) *graph.Node { return graph.MatMul(x, x) },
		tensors.FromValue([][]float32{{1, 2}, {3, 4}}))
	if got := y.Value().([][]float32); got[1][1] != 22 {
		t.Fatalf("matmul: %v", got)
	}
	// The devices: the host only here, and the host is what computes.
	if m := MachineDevices(c.Backend); len(m) != 1 || m[0].Source != "host" || c.ComputeDevice().Source != "host" {
		t.Fatalf("devices %+v, compute devices %+v", m, c.ComputeDevices())
	}
	if cpu, err := CPUBackend(); err != nil || cpu != c.Backend {
		t.Fatalf("CPUBackend on the pure-Go default must be the default's backend: %v %v", cpu, err)
	}
}

// TestNewIsNew: New makes a new backend at every call, announces nothing, and carries the choice's facts.
func TestNewIsNew(t *testing.T) {
	machine(t, nil, oneGPU, h200) // a GPU and no plugin: the CPU, with a warning
	buf := freshDefault(t)
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "")
	a, err := New(envOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Backend.Finalize()
	b := MustNew(envOptions(t))
	defer b.Backend.Finalize()
	if a.Backend == b.Backend || defaultChoice != nil || buf.Len() != 0 {
		t.Fatalf("New must create a new backend each time, not the default: same %v, default %v", a.Backend == b.Backend, defaultChoice)
	}
	if a.Warning == "" || !strings.Contains(a.Warning, `pip install --user "jax[cuda13]"`) {
		t.Fatalf("a GPU with no plugin: the choice must carry the warning: %+v", a)
	}
	// The device list shows the hardware (NVML's GPU) whatever the backend, then the host; the host computes.
	if m := MachineDevices(a.Backend); len(m) != 2 || m[0].Name != "NVIDIA H200" || m[1].Kind != platform.CPU ||
		len(a.ComputeDevices()) != 1 || a.ComputeDevice().Kind != platform.CPU {
		t.Fatalf("devices %+v, compute devices %+v", m, a.ComputeDevices())
	}
}

func TestExplicitBackendFailureIsAnError(t *testing.T) {
	_, _, err := create(decision{Config: "nosuchbackend", Name: "nosuchbackend", Explicit: true, Reason: "GOMLX_BACKEND=nosuchbackend is set"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "nosuchbackend") {
		t.Fatalf("want an error naming the backend, got %v", err)
	}
}

func TestAutomaticCUDAFailureFallsBack(t *testing.T) {
	t.Setenv("GONBGPU_CACHE_DIR", t.TempDir())
	p := &plugin.Plugin{Path: t.TempDir() + "/pjrt_c_api_cuda_plugin.so", Source: "PJRT_PLUGIN_LIBRARY_PATH"}
	b, d, err := create(decision{Config: "xla:" + p.Path, Name: "xla:cuda", Plugin: p, Reason: "test"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !platform.IsPureGo(b) || d.Name != "go" || !strings.Contains(d.Reason, "failed to start") {
		t.Fatalf("want fallback to go with a reason, got %s %+v", b.Name(), d)
	}
	if !strings.Contains(d.Warning, "failed to start") || !strings.Contains(d.Warning, "gonbgpu devices --plugins") {
		t.Fatalf("fallback warning: %+v", d)
	}
}

func TestRequireGPUFailsFastWithTheReason(t *testing.T) {
	machine(t, nil, oneGPU, h200) // a GPU is there, but no plugin is installed
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "1")
	freshDefault(t)
	c, err := Default()
	var req *RequiredGPUError
	if c != nil || !errors.As(err, &req) {
		t.Fatalf("want a RequiredGPUError and no backend, got %v, %v", c, err)
	}
	for _, w := range []string{RequireGPUOption, RequireGPUEnv, "no CUDA plugin found", `pip install --user "jax[cuda13]"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "--require-gpu") {
		t.Errorf("a library's error names the option, not a command's flag: %v", err)
	}
	// An explicit CPU backend contradicts the requirement.
	t.Setenv(BackendEnv, "go")
	if _, err := New(envOptions(t)); !errors.As(err, &req) || !strings.Contains(err.Error(), "unset "+BackendEnv) {
		t.Fatalf("GOMLX_BACKEND=go with the GPU required: %v", err)
	}
	for _, v := range []string{"0", "", "no", "OFF"} {
		t.Setenv(RequireGPUEnv, v)
		if envOptions(t).RequireGPU {
			t.Errorf("%s=%q must not require the GPU", RequireGPUEnv, v)
		}
	}
	for _, v := range []string{"1", "true", "yess"} {
		t.Setenv(RequireGPUEnv, v)
		if !envOptions(t).RequireGPU {
			t.Errorf("%s=%q must require the GPU", RequireGPUEnv, v)
		}
	}
}

func TestFallbackIsLoudOnce(t *testing.T) {
	machine(t, nil, oneGPU, h200) // a GPU and no plugin: the CPU, with a warning
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "")
	buf := freshDefault(t)
	c, err := DefaultWith(envOptions(t), buf)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = Default()
	out := buf.String()
	if strings.Count(out, "WARNING: running on the CPU, not the GPU") != 1 || !strings.Contains(out, `to use the GPU: this node needs CUDA 13`) || !strings.Contains(out, `pip install --user "jax[cuda13]"`) {
		t.Fatalf("want one loud warning with what to do, got %q", out)
	}
	if c.Warning == "" || announcement(c) != out {
		t.Fatalf("the choice must carry the warning, and the announcement be what was printed: %+v", c)
	}
}

func TestAutotuneNotForXLACPU(t *testing.T) {
	t.Setenv("XLA_FLAGS", "")
	calls := 0
	old := withAutotune
	withAutotune = func(p *plugin.Plugin, flags, setting, cacheDir string) (string, string, error) {
		calls++
		return flags, "", nil
	}
	t.Cleanup(func() { withAutotune = old })
	t.Setenv("GONBGPU_CACHE_DIR", t.TempDir())
	p := &plugin.Plugin{Path: filepath.Join(t.TempDir(), "pjrt_c_api_cuda_plugin.so"), Source: "PJRT_PLUGIN_LIBRARY_PATH"}
	// GOMLX_BACKEND=xla:cpu with a CUDA plugin installed: the plugin is recorded but not used.
	_, _, _ = create(decision{Config: "xla:cpu", Name: "xla:cpu", Plugin: p, Explicit: true, Reason: "test"}, Options{})
	if calls != 0 {
		t.Fatalf("the CUDA autotuning cache was set up %d time(s) for xla:cpu", calls)
	}
	// The CUDA plugin itself gets it (it then fails to start here, and falls back).
	_, _, _ = create(decision{Config: "xla:" + p.Path, Name: "xla:cuda", Plugin: p, Reason: "test"}, Options{})
	if calls != 1 {
		t.Fatalf("the CUDA plugin must get the autotuning cache: %d call(s)", calls)
	}
	if os.Getenv(nvidia.DeviceOrderEnv) == "" {
		t.Errorf("%s must be set before CUDA starts", nvidia.DeviceOrderEnv)
	}
}

// fakeCUDA answers only what the device choice asks of a backend: an XLA backend on n CUDA devices.
type fakeCUDA struct {
	compute.Backend
	n int
}

func (f fakeCUDA) Name() string                               { return "xla" }
func (f fakeCUDA) String() string                             { return "xla" }
func (f fakeCUDA) Description() string                        { return "XLA PJRT plugin cuda" }
func (f fakeCUDA) NumDevices() int                            { return f.n }
func (f fakeCUDA) DeviceDescription(compute.DeviceNum) string { return "cuda:0 NVIDIA H200" }
func (f fakeCUDA) IsCUDA() bool                               { return true } // as go-xla's backend answers

// TestDevicesOfACUDABackend: NVML's description of the job's GPU is what a CUDA backend computes on;
// without NVML, or when NVML and CUDA disagree on the count, the backend's own list, never the host's RAM.
func TestDevicesOfACUDABackend(t *testing.T) {
	machine(t, nil, oneGPU, h200)
	c := choiceOn(fakeCUDA{n: 1})
	if d := c.ComputeDevice(); d.UUID != "GPU-cccccccc" || d.MemoryFree != 68<<30 {
		t.Fatalf("CheckFits would check %+v", d)
	}
	if err := platform.CheckFits(c.ComputeDevice(), 69<<30); err == nil {
		t.Errorf("69 GiB must not fit in the job's GPU with 68 GiB free")
	}
	machine(t, nil, oneGPU, nil) // NVML missing
	if devs := MachineDevices(fakeCUDA{n: 1}); len(devs) != 2 || devs[0].Source != "pjrt" || devs[0].MemoryTotal != 0 || devs[1].Source != "host" {
		t.Fatalf("without NVML: %+v (never the host)", devs)
	}
	machine(t, nil, oneGPU, h200) // NVML 1 GPU, CUDA 2: PJRT's list is what computes
	if devs := MachineDevices(fakeCUDA{n: 2}); len(devs) != 3 || devs[0].Source != "pjrt" {
		t.Fatalf("NVML 1 GPU, CUDA 2: %+v", devs)
	}
}

// TestCheckFitsHost uses the real backend (pure Go here) and the host's real memory.
func TestCheckFitsHost(t *testing.T) {
	t.Setenv(BackendEnv, "go")
	t.Setenv(RequireGPUEnv, "") // gpu-check requires the GPU for the other tests; this one is about the host
	freshDefault(t)             // whatever backend an earlier test created: this one is the pure-Go backend's
	if err := CheckFits(1 << 20); err != nil {
		t.Errorf("1 MiB should fit: %v", err)
	}
	err := CheckFits(1 << 60)
	var me *platform.MemoryError
	if !errors.As(err, &me) || me.Device.Kind != platform.CPU || me.Device.MemoryFree == 0 {
		t.Fatalf("1 EiB: want a *MemoryError on the host, got %v", err)
	}
	if !strings.Contains(err.Error(), "needs 1.0 EiB but device 0 (host CPU) has ") {
		t.Errorf("message: %v", err)
	}
}

// TestCheckFitsOnNVML checks real GPUs when NVML sees any (GPU nodes); elsewhere it checks that no GPU
// is reported, so it passes or fails on every machine and never skips.
func TestCheckFitsOnNVML(t *testing.T) {
	p := nvidia.Detect()
	gpus := p.GPUs
	if len(gpus) == 0 {
		for _, d := range MachineDevices(nil) {
			if d.Kind == platform.GPU {
				t.Fatalf("NVML sees no GPU (%s) but MachineDevices lists GPU %+v", p.How, d)
			}
		}
		t.Logf("no GPU visible through NVML (%s): only the host was checked", p.How)
		return
	}
	for _, d := range gpus {
		if d.MemoryTotal == 0 || d.MemoryFree > d.MemoryTotal {
			t.Errorf("GPU %d: bad memory figures %+v", d.Index, d)
			continue
		}
		if err := platform.CheckFits(d, int64(d.MemoryFree/2)); err != nil {
			t.Errorf("half the free memory of GPU %d should fit: %v", d.Index, err)
		}
		err := platform.CheckFits(d, int64(d.MemoryTotal)+1)
		if err == nil || !strings.Contains(err.Error(), d.Name) {
			t.Errorf("GPU %d: more than its total should not fit: %v", d.Index, err)
		}
		t.Logf("%v", err)
	}
}

// TestNewTakesOptionsNotTheEnvironment: New does what its Options say, whatever the environment says, and
// writes nothing there; only the edges (Default, the commands) read the environment.
func TestNewTakesOptionsNotTheEnvironment(t *testing.T) {
	machine(t, nil, oneGPU, h200) // a GPU and no plugin: the CPU, with a warning
	t.Setenv(BackendEnv, "nosuchbackend")
	t.Setenv(RequireGPUEnv, "1")
	c, err := New(Options{})
	if err != nil || c.Name != "go" || c.Warning == "" {
		t.Fatalf("Options{} chooses automatically, whatever %s and %s say: %+v %v", BackendEnv, RequireGPUEnv, c, err)
	}
	c.Backend.Finalize()
	t.Setenv(RequireGPUEnv, "0")
	var req *RequiredGPUError
	if _, err := New(Options{RequireGPU: true}); !errors.As(err, &req) {
		t.Fatalf("Options.RequireGPU with %s=0: want a RequiredGPUError, got %v", RequireGPUEnv, err)
	}
	if got := os.Getenv(RequireGPUEnv); got != "0" {
		t.Fatalf("New wrote %s=%q into the environment", RequireGPUEnv, got)
	}
}
