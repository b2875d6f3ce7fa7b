package report

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// saveRun writes a history with the given per-epoch seconds and test accuracies into dir/name.
func saveRun(t *testing.T, dir, name string, devices, batch int, secs, accs []float64) string {
	t.Helper()
	h := &trainer.History{Model: "resnet20", Config: trainer.Config{BatchSize: batch},
		Env: []trainer.Environment{{Backend: "xla:cuda", Devices: 4, Used: devices}}}
	for i := range secs {
		h.Epochs = append(h.Epochs, trainer.Epoch{Epoch: i + 1, Seconds: secs[i], EvalSeconds: 1, ImagesPerSec: 1000 / secs[i], TestAcc: accs[i]})
	}
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	one := saveRun(t, dir, "fashion-1dev", 1, 128, []float64{30, 20, 20}, []float64{0.5, 0.7, 0.8})
	two := saveRun(t, dir, "fashion-2dev", 2, 256, []float64{25, 10, 12}, []float64{0.4, 0.6, 0.75})
	runs, err := Load(two, filepath.Join(one, "history.json")) // a folder, and a history.json itself
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(runs, 0.7)
	if c.Base != "fashion-1dev" {
		t.Errorf("base run %q, want the one-device run", c.Base)
	}
	r2, r1 := c.Rows[0], c.Rows[1]
	if r1.Devices != 1 || r2.Devices != 2 || r2.Batch != 256 {
		t.Errorf("devices/batch read wrong: %+v %+v", r1, r2)
	}
	// The first epoch (compilation) is left out of the time per epoch.
	if r1.EpochSeconds != 20 || r2.EpochSeconds != 11 || r1.FirstEpochSeconds != 30 {
		t.Errorf("s/epoch: %v and %v, want 20 and 11 (first epoch %v, want 30)", r1.EpochSeconds, r2.EpochSeconds, r1.FirstEpochSeconds)
	}
	if math.Abs(r2.Speedup-20.0/11) > 1e-12 || r1.Speedup != 1 {
		t.Errorf("speedups %v, %v", r1.Speedup, r2.Speedup)
	}
	// Time to 0.7: run 1 reaches it after epoch 2 (30+1+20+1 s); run 2 after epoch 3 (26+11+13 s).
	if r1.ToTarget != 52 || r2.ToTarget != 50 {
		t.Errorf("time to target: %v and %v, want 52 and 50", r1.ToTarget, r2.ToTarget)
	}
	if c2 := Compare(runs, 0.9); !math.IsNaN(c2.Rows[0].ToTarget) || !strings.Contains(c2.Table(), "—") {
		t.Errorf("a target never reached should show as —:\n%s", c2.Table())
	}
	table := c.Table()
	for _, want := range []string{"fashion-2dev", "1.82x", "s to 0.70", "speedup: fashion-1dev's"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	figs := c.Figures()
	if len(figs) != 3 || figs[2].Series[1].Y[1] != r2.Speedup || figs[2].Series[1].X[0] != 1 {
		t.Errorf("want 3 figures, the speedup one sorted by devices; got %d", len(figs))
	}
	for _, f := range figs {
		if _, err := f.SVG(); err != nil {
			t.Errorf("figure %q: %v", f.Title, err)
		}
	}
}

// Runs on one device (batch sizes compared): no speedup-against-devices plot, speedups against the first.
func TestCompareOneDevice(t *testing.T) {
	dir := t.TempDir()
	a := saveRun(t, dir, "batch64", 1, 64, []float64{12, 10}, []float64{0.5, 0.6})
	b := saveRun(t, dir, "batch128", 1, 128, []float64{10, 8}, []float64{0.45, 0.55})
	runs, err := Load(a, b)
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(runs, 0)
	if len(c.Figures()) != 2 {
		t.Errorf("one device count: want 2 figures (no speedup against devices), got %d", len(c.Figures()))
	}
	if c.Base != "batch64" || c.Rows[1].Speedup != 10.0/8 {
		t.Errorf("base %q, speedup %v", c.Base, c.Rows[1].Speedup)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	bad := filepath.Join(dir, "bad")
	os.Mkdir(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "history.json"), []byte("{not json"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "missing"},
		{empty, "has no history.json"},
		{bad, "bad/history.json: not a training history"},
	} {
		_, err := Load(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s): error %v, want one containing %q", tc.path, err, tc.want)
		}
	}
	if _, err := Load(); err == nil {
		t.Errorf("no runs: want an error")
	}
}

// TestCompareSelected: a run with a validation split measured the test set once, for the epoch it chose;
// its per-epoch test figures are NaN (null in history.json). Its row reports the selected epoch's test
// accuracy, and its figures skip the epochs that were not tested.
func TestCompareSelected(t *testing.T) {
	dir := t.TempDir()
	nan := math.NaN()
	out := saveRun(t, dir, "validated", 1, 128, []float64{30, 20, 20}, []float64{nan, nan, nan})
	h, err := trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.Selected = &trainer.Selection{Epoch: 2, ValAcc: 0.8, TestAcc: 0.75}
	if err := h.Save(out); err != nil {
		t.Fatal(err)
	}
	runs, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(runs, 0.7)
	if r := c.Rows[0]; r.FinalAcc != 0.75 || math.IsNaN(r.BestAcc) || !math.IsNaN(r.ToTarget) {
		t.Errorf("row %+v: want the selected epoch's test accuracy 0.75, no NaN best, no time to target", r)
	}
	if !strings.Contains(c.Table(), "0.7500") {
		t.Errorf("table:\n%s", c.Table())
	}
	_ = c.Figures()
}
