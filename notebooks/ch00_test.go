package notebooks_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["00-setup-check.ipynb"] = check00 }

// check00 asserts chapter 00's key facts (Setup check) from its executed outputs.
func check00(t *testing.T, nb *ipynb.Notebook, text string) {
	mustContain(t, text, "built with "+pinnedVersions) // not the newer versions the module cache lists
	mustContain(t, text,
		"the gonbgpu kernel compiled and ran this cell",
		"setup check: x·xᵀ is correct",
		"square(12) = 144",
		`class="gonbgpu-tensor"`, "x·xᵀ: float32[2,2] on", // the tensor table rendered
		`class="gonbgpu-devices"`, "Memory used / total", // the device table rendered
		`class="gonbgpu-images"`, `<img src="data:image/png;base64,`, // the picture grid, inline PNGs
		`class="gonbgpu-figure"`, "<svg", // the plot, SVG
	)
	// The backend line: once per kernel session, as the text says, not once per cell.
	if n := strings.Count(text, "gonbgpu: backend "); n != 1 {
		t.Errorf("the backend line appears %d times, want once per session", n)
	}
	// The text lists the backends gpu.Backend chooses from, in its order; the one chosen here is among them.
	prose := proseOf(nb)
	order := regexp.MustCompile("`GOMLX_BACKEND`.*XLA on CUDA \\(`xla:cuda`\\).*XLA on the CPU \\(`xla:cpu`\\).*pure-Go backend \\(`go`\\)")
	if !order.MatchString(prose) {
		t.Errorf("chapter 00 must list the backends in gpu.Backend's order: GOMLX_BACKEND, xla:cuda, xla:cpu, go")
	}
	if b := backendOf(text); b == "" || !strings.Contains(prose, "(`"+b+"`)") {
		t.Errorf("the backend chosen, %q, is not one the text describes", b)
	}
	mustContain(t, prose, "## Exercises")
}

// proseOf is a notebook's prose: its markdown cells, with each run of white space made one space.
func proseOf(nb *ipynb.Notebook) string {
	var b strings.Builder
	for _, c := range nb.Cells {
		if c.CellType == "markdown" {
			b.WriteString(string(c.Source) + " ")
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
