package gpu

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestBackendPureGo creates the process backend with no GPU in sight, checks the announcement, and runs a
// computation on it.
func TestBackendPureGo(t *testing.T) {
	isolate(t)
	backendOnce, backendValue, backendErr = sync.Once{}, nil, nil // a fresh process's state (also under -count)
	var buf bytes.Buffer
	Log = &buf
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "") // gpu-check requires the GPU for the other tests; this one is about the CPU
	b, err := NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	if !IsPureGo(b) {
		t.Fatalf("want the pure-Go backend here, got %s", b.Name())
	}
	if _, err := NewBackend(); err != nil { // second call: no second announcement
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "gonbgpu: backend go") != 1 || !strings.Contains(out, "no CUDA plugin found") {
		t.Fatalf("announcement: %q", out)
	}
	y := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.MatMul(x, x) },
		tensors.FromValue([][]float32{{1, 2}, {3, 4}}))
	if got := y.Value().([][]float32); got[1][1] != 22 {
		t.Fatalf("matmul: %v", got)
	}
	// Devices lists the GPUs NVML sees whatever the backend (on a GPU node: some), then the host, once.
	devs := Devices(b)
	gpus, _, nvmlErr := nvmlDevices()
	if len(devs) != len(gpus)+1 || devs[len(devs)-1].Kind != CPU || devs[len(devs)-1].Source != "host" {
		t.Fatalf("want NVML's %d GPU(s) (NVML: %v) and then the host, got %+v", len(gpus), nvmlErr, devs)
	}
	for _, d := range devs[:len(devs)-1] {
		if d.Kind != GPU {
			t.Fatalf("only the last device may be the host: %+v", devs)
		}
	}
}

// TestDevicesPureGoListsNVMLGPUs is TestBackendPureGo's device list on a made-up GPU node: the pure-Go
// backend still lists the GPUs NVML sees (the device table shows the hardware), then the host.
func TestDevicesPureGoListsNVMLGPUs(t *testing.T) {
	fakeNode(t, node4(0, 1), 2)
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	os.Unsetenv("CUDA_VISIBLE_DEVICES")
	b, err := CPUBackend()
	if err != nil {
		t.Fatal(err)
	}
	devs := Devices(b)
	if len(devs) != 3 || devs[0].Kind != GPU || devs[1].Kind != GPU || devs[2].Kind != CPU {
		t.Fatalf("want 2 GPUs then the host, got %+v", devs)
	}
}

func TestExplicitBackendFailureIsAnError(t *testing.T) {
	_, _, err := create(Choice{Config: "nosuchbackend", Name: "nosuchbackend", Explicit: true, Reason: "GOMLX_BACKEND=nosuchbackend is set"})
	if err == nil || !strings.Contains(err.Error(), "nosuchbackend") {
		t.Fatalf("want an error naming the backend, got %v", err)
	}
}

func TestAutomaticCUDAFailureFallsBack(t *testing.T) {
	p := &Plugin{Path: t.TempDir() + "/pjrt_c_api_cuda_plugin.so", Source: "PJRT_PLUGIN_LIBRARY_PATH"}
	b, c, err := create(Choice{Config: "xla:" + p.Path, Name: "xla:cuda", Plugin: p, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !IsPureGo(b) || c.Name != "go" || !strings.Contains(c.Reason, "failed to start") {
		t.Fatalf("want fallback to go with a reason, got %s %+v", b.Name(), c)
	}
}

// freshBackend resets the process's backend state, as in a new process (also under -count).
func freshBackend(t *testing.T) *bytes.Buffer {
	t.Helper()
	backendOnce, backendValue, backendErr, backendChoice = sync.Once{}, nil, nil, Choice{}
	var buf bytes.Buffer
	old := Log
	Log = &buf
	t.Cleanup(func() {
		Log = old
		backendOnce, backendValue, backendErr, backendChoice = sync.Once{}, nil, nil, Choice{}
	})
	return &buf
}

func TestRequireGPUFailsFastWithTheReason(t *testing.T) {
	isolate(t)
	fakeNode(t, node4(0), 1) // a GPU is there, but no plugin is installed
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "1")
	freshBackend(t)
	b, err := NewBackend()
	var req *RequiredGPUError
	if b != nil || !errors.As(err, &req) {
		t.Fatalf("want a RequiredGPUError and no backend, got %v, %v", b, err)
	}
	for _, w := range []string{RequireGPUEnv, "no CUDA plugin found", `pip install --user "jax[cuda13]"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	// An explicit CPU backend contradicts the requirement.
	t.Setenv(BackendEnv, "go")
	freshBackend(t)
	if _, err := NewBackend(); !errors.As(err, &req) || !strings.Contains(err.Error(), "unset "+BackendEnv) {
		t.Fatalf("GOMLX_BACKEND=go with the GPU required: %v", err)
	}
	for _, v := range []string{"0", "", "no", "OFF"} {
		t.Setenv(RequireGPUEnv, v)
		if RequireGPU() {
			t.Errorf("%s=%q must not require the GPU", RequireGPUEnv, v)
		}
	}
	for _, v := range []string{"1", "true", "yess"} {
		t.Setenv(RequireGPUEnv, v)
		if !RequireGPU() {
			t.Errorf("%s=%q must require the GPU", RequireGPUEnv, v)
		}
	}
}

func TestFallbackIsLoudOnce(t *testing.T) {
	isolate(t)
	fakeNode(t, node4(0), 1) // a GPU and no plugin: the CPU, with a warning
	t.Setenv(BackendEnv, "")
	t.Setenv(RequireGPUEnv, "")
	buf := freshBackend(t)
	if _, err := NewBackend(); err != nil {
		t.Fatal(err)
	}
	_, _ = NewBackend()
	out := buf.String()
	if strings.Count(out, "WARNING: running on the CPU, not the GPU") != 1 || !strings.Contains(out, "install JAX's CUDA plugin") {
		t.Fatalf("want one loud warning with what to do, got %q", out)
	}
	c, _ := Chosen()
	if c.Warning == "" {
		t.Fatalf("the choice must carry the warning: %+v", c)
	}
	// The automatic CUDA choice that fails to start warns too.
	p := &Plugin{Path: t.TempDir() + "/pjrt_c_api_cuda_plugin.so", Source: "PJRT_PLUGIN_LIBRARY_PATH"}
	_, fb, err := create(Choice{Config: "xla:" + p.Path, Name: "xla:cuda", Plugin: p, Reason: "test"})
	if err != nil || !strings.Contains(fb.Warning, "failed to start") || !strings.Contains(fb.Warning, "gonbgpu devices --plugins") {
		t.Fatalf("fallback warning: %+v %v", fb, err)
	}
}

func TestAutotuneNotForXLACPU(t *testing.T) {
	isolate(t)
	t.Setenv("XLA_FLAGS", "")
	t.Setenv(AutotuneCacheEnv, "")
	p := fakePlugin(t, 4096, 100, autotuneFlagName)
	stubFlagProbe(t, map[string]flagVerdict{autotuneFlagName: verdictAccepted}) // the plugin would accept it
	// GOMLX_BACKEND=xla:cpu with a CUDA plugin installed: the plugin is recorded but not used.
	_, _, _ = create(Choice{Config: "xla:cpu", Name: "xla:cpu", Plugin: p, Explicit: true, Reason: "test"})
	if got := os.Getenv("XLA_FLAGS"); strings.Contains(got, "autotune") {
		t.Fatalf("XLA_FLAGS = %q: the CUDA autotuning flag must not be added for xla:cpu", got)
	}
}
