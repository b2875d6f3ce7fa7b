// Package report compares training runs from the histories the trainer writes (history.json): time per
// epoch, time to a target accuracy, accuracy against epochs and against elapsed time, and the speedup
// over a one-device run. `gonbgpu report RUN_DIR…` prints it; notebook cells call [Load] and [Compare],
// then show the table and the figures.
//
// Every figure comes from the histories: a run that was not made does not appear, and nothing is
// estimated.
package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonbgpu/gonbgpu/kernel/plot"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// Run is one training run read back from its folder.
type Run struct {
	// Name labels the run in tables and legends: the folder's base name.
	Name string
	// Path is the history.json the run was read from.
	Path    string
	History *trainer.History
}

// Devices is the number of devices the run trained on (1 for histories that don't record it).
func (r Run) Devices() int {
	if n := len(r.History.Env); n > 0 && r.History.Env[n-1].Used > 0 {
		return r.History.Env[n-1].Used
	}
	return 1
}

// Load reads the runs in dirs: each is a run folder (holding history.json) or a history.json itself.
// The error names the path that could not be read.
func Load(dirs ...string) ([]Run, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no run folders given")
	}
	runs := make([]Run, 0, len(dirs))
	for _, d := range dirs {
		path := d
		if st, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("run %s: %w", d, err)
		} else if st.IsDir() {
			path = filepath.Join(d, "history.json")
		}
		h, err := trainer.LoadHistory(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("run %s has no history.json (is it the output folder of a training run?)", d)
			}
			return nil, err
		}
		if len(h.Epochs) == 0 {
			return nil, fmt.Errorf("%s: the run has not finished an epoch yet", path)
		}
		name := filepath.Base(filepath.Dir(path))
		runs = append(runs, Run{Name: name, Path: path, History: h})
	}
	return runs, nil
}

// Row is one run's line of the comparison.
type Row struct {
	Name    string
	Model   string
	Devices int
	Batch   int // global batch
	Epochs  int
	// EpochSeconds is the mean training time per epoch, without the first epoch when there are several
	// (it includes building and compiling the graph, see FirstEpochSeconds).
	EpochSeconds      float64
	FirstEpochSeconds float64
	ImagesPerSec      float64 // mean over the same epochs as EpochSeconds
	FinalAcc, BestAcc float64 // test accuracy
	// ToTarget is the elapsed time (training and evaluation, from the start) when the test accuracy first
	// reached the target; NaN when it never did.
	ToTarget float64
	// Speedup is the base run's EpochSeconds over this run's.
	Speedup float64
}

// Comparison is a table of runs against a base run.
type Comparison struct {
	Runs   []Run
	Rows   []Row
	Target float64
	// Base is the run the speedups are measured against: the first one-device run (the first run if
	// none trained on one device).
	Base string
}

// Compare builds the comparison; target is the test accuracy for the time-to-target column (0 for
// none).
func Compare(runs []Run, target float64) *Comparison {
	c := &Comparison{Runs: runs, Target: target}
	base := -1
	for i, r := range runs {
		if r.Devices() == 1 {
			base = i
			break
		}
	}
	if base < 0 && len(runs) > 0 {
		base = 0
	}
	for _, r := range runs {
		c.Rows = append(c.Rows, row(r, target))
	}
	if base >= 0 {
		c.Base = runs[base].Name
		for i := range c.Rows {
			c.Rows[i].Speedup = c.Rows[base].EpochSeconds / c.Rows[i].EpochSeconds
		}
	}
	return c
}

func row(r Run, target float64) Row {
	h := r.History
	w := Row{Name: r.Name, Model: h.Model, Devices: r.Devices(), Batch: h.Config.BatchSize, Epochs: len(h.Epochs),
		FirstEpochSeconds: h.Epochs[0].Seconds, FinalAcc: h.Last().TestAcc, ToTarget: math.NaN()}
	if h.Selected != nil { // a run with a validation split measured the test set once, for its chosen epoch
		w.FinalAcc = h.Selected.TestAcc
	}
	steady := h.Epochs
	if len(steady) > 1 {
		steady = steady[1:]
	}
	for _, e := range steady {
		w.EpochSeconds += e.Seconds / float64(len(steady))
		w.ImagesPerSec += e.ImagesPerSec / float64(len(steady))
	}
	elapsed := ElapsedSeconds(h)
	for i, e := range h.Epochs {
		if math.IsNaN(e.TestAcc) { // not measured: the run evaluated a validation split instead
			continue
		}
		w.BestAcc = max(w.BestAcc, e.TestAcc)
		if target > 0 && e.TestAcc >= target && math.IsNaN(w.ToTarget) {
			w.ToTarget = elapsed[i]
		}
	}
	return w
}

// ElapsedSeconds is the time from the start of training to the end of each epoch's evaluation.
func ElapsedSeconds(h *trainer.History) []float64 {
	out := make([]float64, len(h.Epochs))
	t := 0.0
	for i, e := range h.Epochs {
		t += e.Seconds + e.EvalSeconds
		out[i] = t
	}
	return out
}

// Table formats the comparison as aligned text.
func (c *Comparison) Table() string {
	var b strings.Builder
	target := "to target"
	if c.Target > 0 {
		target = fmt.Sprintf("s to %.2f", c.Target)
	}
	fmt.Fprintf(&b, "%-22s %-18s %7s %6s %6s %9s %9s %8s %8s %9s %9s\n", "run", "model", "devices", "batch", "epochs",
		"s/epoch", "1st ep s", "img/s", "test acc", target, "speedup")
	for _, r := range c.Rows {
		tt := "—"
		if !math.IsNaN(r.ToTarget) {
			tt = fmt.Sprintf("%.1f", r.ToTarget)
		}
		fmt.Fprintf(&b, "%-22s %-18s %7d %6d %6d %9.2f %9.2f %8.0f %8.4f %9s %8.2fx\n", r.Name, r.Model, r.Devices, r.Batch,
			r.Epochs, r.EpochSeconds, r.FirstEpochSeconds, r.ImagesPerSec, r.FinalAcc, tt, r.Speedup)
	}
	fmt.Fprintf(&b, "s/epoch: mean training time per epoch after the first (which includes compiling); speedup: %s's s/epoch over each run's\n", c.Base)
	return b.String()
}

// Figures are the comparison's plots: test accuracy against epochs and against elapsed time, and, when
// the runs differ in their device counts, the speedup against devices beside the ideal line.
func (c *Comparison) Figures() []*plot.Figure {
	byEpoch := plot.New("Test accuracy per epoch", "epoch", "test accuracy")
	byTime := plot.New("Test accuracy against elapsed time", "seconds (training and evaluation)", "test accuracy")
	for _, r := range c.Runs {
		var ep, acc, at []float64
		elapsed := ElapsedSeconds(r.History)
		for i, e := range r.History.Epochs {
			if math.IsNaN(e.TestAcc) { // a run with a validation split: the test set was measured once, after training
				continue
			}
			ep, acc, at = append(ep, float64(e.Epoch)), append(acc, e.TestAcc), append(at, elapsed[i])
		}
		if len(ep) == 0 {
			continue
		}
		byEpoch.Add(plot.Series{Name: r.Name, X: ep, Y: acc, Points: true})
		byTime.Add(plot.Series{Name: r.Name, X: at, Y: acc, Points: true})
	}
	figs := []*plot.Figure{byEpoch, byTime}
	devices := map[int]bool{}
	for _, r := range c.Rows {
		devices[r.Devices] = true
	}
	if len(devices) > 1 {
		sp := plot.New("Speedup against devices (time per epoch)", "devices", "speedup over "+c.Base)
		var n, s, ideal []float64
		rows := slices.Clone(c.Rows)
		slices.SortStableFunc(rows, func(a, b Row) int { return a.Devices - b.Devices })
		for _, r := range rows {
			n, s, ideal = append(n, float64(r.Devices)), append(s, r.Speedup), append(ideal, float64(r.Devices))
		}
		sp.Add(plot.Series{Name: "ideal", X: n, Y: ideal, Dashed: true})
		sp.Add(plot.Series{Name: "measured", X: n, Y: s, Points: true})
		figs = append(figs, sp)
	}
	return figs
}

// Show prints the table and shows the figures (in a notebook cell; elsewhere they are saved as SVG files,
// see plot.Figure.Show).
func (c *Comparison) Show() error {
	fmt.Print(c.Table())
	for _, f := range c.Figures() {
		if err := f.Show(); err != nil {
			return err
		}
	}
	return nil
}
