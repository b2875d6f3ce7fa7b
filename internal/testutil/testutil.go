// Package testutil holds helpers shared by the project's tests.
package testutil

import (
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
