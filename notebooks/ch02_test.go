package notebooks_test

import (
	"regexp"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["02-device-placement.ipynb"] = check02 }

// check02 asserts chapter 02's key facts (Devices and placement) from its executed outputs.
func check02(t *testing.T, nb *ipynb.Notebook, text string) {
	mustContain(t, text, "GPU available:", "host→device", `class="gonbgpu-devices"`, "MaterializeOnDevice(backend, false, 0)")
	mustContain(t, text, "computed on device 0", "This backend has 1 device", "Exec returned after", "MiB used)",
		"(4.0 MiB): fits", "(1.0 TiB): does not fit", "gonbgpu: not enough memory: needs 1.0 TiB", "the fixed cost of one run")
	// The CPU/GPU timing table, rows in the header's columns: positive CPU times over growing sizes (the
	// GPU columns are "—" here).
	mustContain(t, text, "     n     CPU (ms)     GPU (ms)   speedup")
	re := regexp.MustCompile(`(?m)^\s*(\d+)\s+([0-9.]+)\s+(—|[0-9.]+)\s+(—|[0-9.]+x)$`)
	rows := re.FindAllStringSubmatch(text, -1)
	if len(rows) < 5 {
		t.Fatalf("timing table has %d rows", len(rows))
	}
	prevN := 0
	for _, r := range rows {
		n, ms := atoi(r[1]), atof(r[2])
		if n <= prevN || ms <= 0 || r[3] != "—" {
			t.Errorf("bad timing row %q", r[0])
		}
		prevN = n
	}
	if last, first := atof(rows[len(rows)-1][2]), atof(rows[0][2]); last < 10*first {
		t.Errorf("the largest size (%v ms) should take far longer than the smallest (%v ms)", last, first)
	}
	mustPlot(t, text, 2)
}
