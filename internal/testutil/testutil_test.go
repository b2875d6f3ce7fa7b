package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

func TestBackendAndTol(t *testing.T) {
	t.Setenv(TestBackendEnv, "go")
	b := Backend(t)
	if !platform.IsPureGo(b) || Choice(t).Backend != b {
		t.Fatalf("%s=go: got %s", TestBackendEnv, b.Name())
	}
	if Tol(b, 1e-5) != 1e-5 {
		t.Errorf("the pure-Go backend computes exact float32: tolerance must stay 1e-5, got %g", Tol(b, 1e-5))
	}
	if Tol(nil, 1e-5) != tf32Tolerance || Tol(nil, 1e-2) != 1e-2 {
		t.Errorf("other backends need TF32's tolerance at least: %g, %g", Tol(nil, 1e-5), Tol(nil, 1e-2))
	}
	// A configuration, as `gonbgpu devices --config` prints it, is created (once) as given.
	t.Setenv(TestBackendEnv, "go:parallelism=1")
	t.Setenv("GONBGPU_REQUIRE_GPU", "0")
	c := Backend(t)
	if c == nil || c == b || !platform.IsPureGo(c) || Backend(t) != c {
		t.Fatalf("%s=go:parallelism=1: %v", TestBackendEnv, c)
	}
	// With the GPU required, a CPU backend is a failure, never a silent pass.
	t.Setenv("GONBGPU_REQUIRE_GPU", "1")
	t.Setenv(TestBackendEnv, "")
	if ft := (&fatalT{TB: t}); run(func() { Backend(ft) }) || !strings.Contains(ft.msg, "not a GPU backend") {
		t.Fatalf("GONBGPU_REQUIRE_GPU=1 on the pure-Go backend must fail the test, got %q", ft.msg)
	}
}

// fatalT records a Fatalf instead of ending the test.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn in its own goroutine and reports whether it returned normally (not through Goexit).
func run(fn func()) (returned bool) {
	done := make(chan bool)
	go func() {
		ok := false
		defer func() { done <- ok }()
		fn()
		ok = true
	}()
	return <-done
}
