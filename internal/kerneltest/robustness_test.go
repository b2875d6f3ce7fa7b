package kerneltest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
)

// TestKernelRobustness runs, through the installed kernelspec, the cells that go wrong in a course: a
// panic, a cell that never ends, and a request for more memory than there is. After each, the next cell
// must still run in the same kernel.
func TestKernelRobustness(t *testing.T) {
	k := kerneltest.Start(t, kerneltest.Install(t))
	if k.DisplayName != kernelspec.DisplayName || k.InterruptMode != "message" {
		t.Fatalf("kernelspec: display name %q, interrupt mode %q; want %q, \"message\"", k.DisplayName, k.InterruptMode, kernelspec.DisplayName)
	}
	warm := k.Run(t, "import \"fmt\"\n%%\nfmt.Println(\"warm\")", kerneltest.RunOptions{})
	if got := warm.Stream("stdout"); got != "warm\n" {
		t.Fatalf("first cell printed %q:\n%s\n%s", got, warm, k.Log(40))
	}

	// nextCellRuns checks that the kernel still compiles and runs a cell, promptly.
	n := 0
	nextCellRuns := func(t *testing.T) {
		t.Helper()
		n++
		r := k.Run(t, fmt.Sprintf("%%%%\nfmt.Println(\"next cell %d ran\")", n), kerneltest.RunOptions{Timeout: 2 * time.Minute})
		if want := fmt.Sprintf("next cell %d ran\n", n); r.Stream("stdout") != want || r.Status != "ok" {
			t.Errorf("the next cell did not run: want stdout %q, got:\n%s\nkernel log:\n%s", want, r, k.Log(40))
		} else if r.Seconds > 60 {
			t.Errorf("the next cell took %.0fs", r.Seconds)
		}
	}

	t.Run("panic", func(t *testing.T) {
		r := k.Run(t, `func mustPositive(n int) int {
	if n <= 0 {
		panic(fmt.Sprintf("mustPositive: got %d, want a positive number", n))
	}
	return n
}

%%
fmt.Println("before the panic")
fmt.Println(mustPositive(-3))`, kerneltest.RunOptions{})
		checkPanic(t, r, "mustPositive: got -3, want a positive number", 12)
		if r.Stream("stdout") != "before the panic\n" {
			t.Errorf("stdout before the panic: %q", r.Stream("stdout"))
		}
		nextCellRuns(t)
	})

	t.Run("panic in a GoMLX graph", func(t *testing.T) {
		// A shape error, the panic students meet most: x·x with x of shape [1,3].
		r := k.Run(t, `import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/gpu"
)

%%
x := tensors.FromValue([][]float32{{1, 2, 3}})
fmt.Println(graph.MustExecOnce(gpu.Backend(), func(x *graph.Node) *graph.Node { return graph.MatMul(x, x) }, x))`, kerneltest.RunOptions{})
		checkPanic(t, r, "DotGeneral contracting dimensions do not match", 30)
		nextCellRuns(t)
	})

	t.Run("interrupt a sleeping cell", func(t *testing.T) {
		r := k.Run(t, `import "time"

%%
fmt.Println("sleeping for 10 minutes")
time.Sleep(10 * time.Minute)
fmt.Println("woke up")`, kerneltest.RunOptions{InterruptWhen: "sleeping for 10 minutes", Timeout: 3 * time.Minute})
		checkInterrupted(t, r, "woke up")
		nextCellRuns(t)
	})

	t.Run("interrupt a busy loop that ignores SIGINT", func(t *testing.T) {
		// The kernel sends SIGINT, then SIGKILL after GoNB's 5 seconds: even this cell stops.
		r := k.Run(t, `import (
	"os"
	"os/signal"
)

%%
signal.Ignore(os.Interrupt)
fmt.Println("spinning")
for i := 0; ; i++ {
	if i < 0 {
		fmt.Println("overflowed")
	}
}`, kerneltest.RunOptions{InterruptWhen: "spinning", Timeout: 3 * time.Minute})
		checkInterrupted(t, r, "overflowed")
		nextCellRuns(t)
	})

	t.Run("more memory than the device has", func(t *testing.T) {
		r := k.Run(t, `import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/kernel"
)

%%
// A 524288×524288 float32 matrix: 1 TiB.
shape := shapes.Make(dtypes.Float32, 1<<19, 1<<19)
if err := gpu.CheckFits(shape.ByteSize()); err != nil {
	kernel.ShowError(err)
	return
}
fmt.Println("allocating", shape)`, kerneltest.RunOptions{})
		html := r.HTML()
		want := "gonbgpu: not enough memory: needs 1.0 TiB but device 0 (host CPU) has "
		if !strings.Contains(html, want) || !strings.Contains(html, " free (") {
			t.Errorf("the cell should show %q…, got:\n%s", want, r)
		}
		if strings.Contains(r.Stream("stdout"), "allocating") || r.Stream("stderr") != "" {
			t.Errorf("the cell went on or wrote to stderr:\n%s", r)
		}
		nextCellRuns(t)
	})
}

// checkPanic asserts that a panicking cell ends with status "error" and one error output, not pieces of
// stderr (the kernel's launcher folds them, internal/kernelproxy): the panic message first, then a short
// trace of the panicking goroutine only rather than pages of runtime frames, then "exit status 2".
func checkPanic(t *testing.T, r *kerneltest.Reply, message string, maxLines int) {
	t.Helper()
	errs := r.Errors()
	if r.Status != "error" || len(errs) != 1 {
		t.Fatalf("a panicking cell should end with status \"error\" and one error output, got status %q and %d:\n%s", r.Status, len(errs), r)
	}
	if stderr := r.Stream("stderr"); stderr != "" {
		t.Errorf("the panic went to stderr too:\n%s", r)
	}
	e := errs[0]
	if e.Name != "panic" || !strings.Contains(e.Text, message) {
		t.Errorf("the error should be ename \"panic\", evalue %q…, got %q, %q", message, e.Name, e.Text)
	}
	trace := strings.TrimSpace(e.Traceback)
	first, _, _ := strings.Cut(trace, "\n")
	if !strings.HasPrefix(first, "panic: ") || !strings.Contains(first, message) {
		t.Errorf("the first line of the traceback should be the panic message %q, got %q:\n%s", message, first, r)
	}
	// GoNB marks main.go's lines with "[[ Cell [n] Line m ]]" only when the runtime's trace reaches it
	// in one piece, which depends on timing: the trace must name main.go's line either way.
	if !strings.Contains(trace, "main.go:") {
		t.Errorf("the trace does not point at the cell's program:\n%s", trace)
	}
	if n := strings.Count(trace, "\n") + 1; n > maxLines {
		t.Errorf("the panic output has %d lines, want at most %d (runtime noise):\n%s", n, maxLines, trace)
	}
	if strings.Count(trace, "goroutine ") > 1 {
		t.Errorf("the panic output lists several goroutines:\n%s", trace)
	}
	if !strings.Contains(trace, "exit status 2") {
		t.Errorf("the traceback does not say the cell's program failed:\n%s", trace)
	}
}

// checkInterrupted asserts that the interrupt was sent and ended the cell within seconds.
func checkInterrupted(t *testing.T, r *kerneltest.Reply, never string) {
	t.Helper()
	if r.InterruptedAt == nil {
		t.Fatalf("the cell ended before it was interrupted:\n%s", r)
	}
	if after := r.Seconds - *r.InterruptedAt; after > 20 {
		t.Errorf("the cell ended %.1fs after the interrupt, want under 20s", after)
	}
	if stderr := r.Stream("stderr"); !strings.Contains(stderr, "signal: interrupt") && !strings.Contains(stderr, "signal: killed") {
		t.Errorf("stderr does not say the cell was stopped:\n%s", r)
	}
	if strings.Contains(r.Stream("stdout"), never) {
		t.Errorf("the cell went on after the interrupt:\n%s", r)
	}
	t.Logf("interrupted after %.1fs, idle %.1fs later", *r.InterruptedAt, r.Seconds-*r.InterruptedAt)
}
