package notebooks_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["01-tensors-vs-numpy.ipynb"] = check01 }

// check01 asserts chapter 01's key facts (Tensors, compared with numpy) from its executed outputs.
func check01(t *testing.T, nb *ipynb.Notebook, text string) {
	// Every cell that checks against numpy ends with a summary line; all must be "N/N as expected".
	re := regexp.MustCompile(`numpy agreement: (\d+)/(\d+) checks as expected \((\d+) equal, (\d+) deliberate`)
	total, equal, differ := 0, 0, 0
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if m[1] != m[2] {
			t.Errorf("a cell's numpy checks did not all come out as expected: %s", m[0])
		}
		total += atoi(m[2])
		equal += atoi(m[3])
		differ += atoi(m[4])
	}
	if total < 40 || equal < 30 || differ < 5 {
		t.Errorf("too few numpy checks ran: %d (%d equal, %d differences)", total, equal, differ)
	}
	// float64's cost is the GPU's: about 2× on the data-centre GPUs students get (P100 to H100), 30–60×
	// only on consumer ones. A chapter that says "30 to 60 times slower on a GPU" is wrong on Discovery.
	prose := proseOf(nb)
	if !strings.Contains(prose, "P100, V100, A100, H100) have half as many float64 units") {
		t.Errorf("chapter 1 must say float64 is about 2× slower on data-centre GPUs (P100, V100, A100, H100), 30–60× only on consumer GPUs")
	}
	// float64 against float32, measured here: twice the memory, and a time ratio from this backend.
	if m := mustMatch(t, text, `float64 takes ([0-9.]+)× the memory and ([0-9.]+)× the time of float32 on (\S+)`); m != nil {
		if atof(m[1]) != 2 || atof(m[2]) <= 0 {
			t.Errorf("float64 against float32: %s", m[0])
		}
		if b := backendOf(text); strings.TrimSuffix(m[3], ",") != b {
			t.Errorf("the float64 timing names %q, not the backend the notebook ran on (%q)", m[3], b)
		}
	}
	if strings.Contains(text, "✗") {
		t.Errorf("a check came out wrong (✗ in the output)")
	}
	// Mixed dtypes are refused, in the backend's words (the pure-Go backend's and XLA's differ).
	mustMatch(t, text, `GoMLX refuses: [^\n]*Int32[^\n]*Float32`)
	mustContain(t, text, "rank 0, shape []",
		"GoMLX refuses to build the graph: Slice", "same seed, same numbers: true; another seed, other numbers: true",
		"Value() of the matrix: [][]float32 [[2 4 6] [8 10 12]]")
	// A tensor used by a graph keeps its host copy and gains one on the backend's device 0.
	mustMatch(t, text, `float32\[2,2\] on host \+ (go|xla):0`)
	// Reading values: the text must match what the placement line printed.
	if m := mustMatch(t, text, `after reading its values, y is on: (\S+) \((reading made a host copy|no host copy)`); m != nil &&
		strings.Contains(m[1], "host") != (m[2] == "reading made a host copy") {
		t.Errorf("placement %q contradicts %q", m[1], m[2])
	}
	// Compiling: the first call of each shape measured against later calls.
	if got := len(regexp.MustCompile(`first call \(compile \+ run\) [0-9.]+ ms, later calls [0-9.]+ ms each`).FindAllString(text, -1)); got != 2 {
		t.Errorf("%d compile timings, want 2 (two shapes)", got)
	}
	// The claims this chapter no longer makes: the same numbers "on any device" (only this backend's are
	// checked), and the buffer that "no stale view" can outlive (Go lets a callback keep the slice).
	for _, claim := range []string{"on any device", "no stale view"} {
		if strings.Contains(prose, claim) {
			t.Errorf("chapter 1 claims %q, which nothing in it shows", claim)
		}
	}
	mustContain(t, prose, "## On a GPU", "## Exercises")
	figuresLabelled(t, text)
	mustPlot(t, text, 2)
}
