package testutil

import (
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu"
)

func TestBackendAndTol(t *testing.T) {
	t.Setenv(TestBackendEnv, "go")
	b := Backend(t)
	if !gpu.IsPureGo(b) {
		t.Fatalf("%s=go: got %s", TestBackendEnv, b.Name())
	}
	if Tol(b, 1e-5) != 1e-5 {
		t.Errorf("the pure-Go backend computes exact float32: tolerance must stay 1e-5, got %g", Tol(b, 1e-5))
	}
	if Tol(nil, 1e-5) != tf32Tolerance || Tol(nil, 1e-2) != 1e-2 {
		t.Errorf("other backends need TF32's tolerance at least: %g, %g", Tol(nil, 1e-5), Tol(nil, 1e-2))
	}
	t.Setenv(TestBackendEnv, "chosen")
	t.Setenv(gpu.BackendEnv, "go")
	t.Setenv(gpu.RequireGPUEnv, "0")
	if b := Backend(t); b == nil || b.NumDevices() < 1 {
		t.Fatalf("%s=chosen: %v", TestBackendEnv, b)
	}
}
