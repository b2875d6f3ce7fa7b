// Package testutil holds helpers shared by the project's tests.
package testutil

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gonbgpu/gonbgpu/gpu"
)

// GoBackend returns GoMLX's pure-Go backend, set up as gpu.Backend() sets it up (the worker-deadlock
// guard included), whatever backend the process would otherwise pick: tests of the CPU paths (the
// lowered convolution, the exact batch norm) and of benchmarks' formats run there on every machine.
func GoBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := gpu.CPUBackend()
	if err != nil {
		t.Fatalf("cannot create the pure-Go backend: %v", err)
	}
	return b
}

// TestBackendEnv names the environment variable that runs the tests written for the pure-Go backend on
// the backend the process would choose instead ("chosen"): scripts/gpu-check.sh sets it so that the
// convolution and ResNet tests run on the GPU there. Unset or "go": the pure-Go backend.
const TestBackendEnv = "GONBGPU_TEST_BACKEND"

// Backend returns the backend the tests of a package run on: the pure-Go backend ([GoBackend]), or with
// GONBGPU_TEST_BACKEND=chosen the one gpu.Backend() chooses (XLA on CUDA on a GPU node; its creation
// failing is a test failure, and with GONBGPU_REQUIRE_GPU=1 so is a CPU choice).
func Backend(t testing.TB) compute.Backend {
	t.Helper()
	switch v := strings.TrimSpace(os.Getenv(TestBackendEnv)); v {
	case "", "go":
		return GoBackend(t)
	case "chosen":
		b, err := gpu.NewBackend()
		if err != nil {
			t.Fatalf("%s=chosen: %v", TestBackendEnv, err)
		}
		return b
	default:
		t.Fatalf("%s=%q: want \"go\" or \"chosen\"", TestBackendEnv, v)
		return nil
	}
}

// tf32Tolerance is the relative error float32 products reach on a GPU: go-xla turns TF32 on for them on
// CUDA (a 10-bit mantissa, ~5e-4 per product, ~1e-3 once summed over a convolution's window).
const tf32Tolerance = 5e-3

// Tol returns the tolerance for comparing float32 results computed on b: tol on the pure-Go backend
// (exact float32), and at least TF32's on XLA, whose GPU products may round their inputs to TF32.
func Tol(b compute.Backend, tol float64) float64 {
	if gpu.IsPureGo(b) {
		return tol
	}
	return max(tol, tf32Tolerance)
}

// SyncBuffer is a strings.Builder safe for concurrent writes and reads: a subprocess's output collected
// while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
