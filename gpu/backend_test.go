package gpu

import (
	"bytes"
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
	if len(Devices(b)) != 1 {
		t.Fatalf("pure-Go backend without NVML should list only the host: %v", Devices(b))
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
