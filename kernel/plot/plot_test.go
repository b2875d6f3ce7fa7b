package plot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSVGHasSeriesAndLabels(t *testing.T) {
	f := New("Gradient norms", "layer", "‖∇W‖").Line("plain", []float64{1, 2, 3}, []float64{1e-6, 1e-3, 1}).
		Line("residual", []float64{1, 2, 3}, []float64{0.1, 0.5, 1})
	f.LogY = true
	svg, err := f.SVG()
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	for _, w := range []string{"<svg", "Gradient norms", "plain", "residual", "layer"} {
		if !strings.Contains(s, w) {
			t.Errorf("SVG lacks %q", w)
		}
	}
	if strings.Count(s, "<path") < 3 {
		t.Errorf("too few paths drawn")
	}
}

func TestBarsAndSave(t *testing.T) {
	f := &Figure{Title: "Speedup", XLabel: "GPUs", YLabel: "×", Bars: true}
	f.Line("ideal", []float64{1, 2, 4}, []float64{1, 2, 4}).Line("measured", []float64{1, 2, 4}, []float64{1, 1.9, 3.6})
	p := filepath.Join(t.TempDir(), "s.png")
	if err := f.Save(p); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	if len(data) < 100 || string(data[1:4]) != "PNG" {
		t.Fatalf("not a PNG")
	}
}

func TestErrors(t *testing.T) {
	if _, err := New("empty", "", "").SVG(); err == nil {
		t.Error("empty figure should fail")
	}
	if _, err := New("bad", "", "").Line("x", []float64{1, 2}, []float64{1}).SVG(); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("mismatched lengths should name the series: %v", err)
	}
}

func TestText(t *testing.T) {
	f := New("Loss", "epoch", "loss").Line("train", []float64{1, 2, 3}, []float64{2, 1.5, 1.25})
	want := "[figure] Loss (x: epoch, y: loss)\n  train: 3 points, last (3, 1.25)"
	if got := f.Text(); got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
}
