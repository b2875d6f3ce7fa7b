package recipe

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// confusionOf is the confusion matrix of a run's predictions on its test set.
func confusionOf(t *testing.T, r *Run) string {
	t.Helper()
	pred, err := r.Predict()
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.Test.Classes)
	c := make([][]int64, n)
	for i := range c {
		c[i] = make([]int64, n)
	}
	for i, p := range pred {
		c[r.Test.Labels[i]][p]++
	}
	return fmt.Sprint(c)
}

// TestHoldoutSelection: with Options.Holdout the run holds a validation split out of its training images,
// evaluates it (not the test set) after every epoch, selects the epoch of highest validation accuracy
// (the earliest of equals), and evaluates the test set once with that epoch's weights: the model left in
// the trainer, and the one a reopened run puts back with UseSelected, predict exactly that confusion
// matrix.
func TestHoldoutSelection(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	o := Options{Model: "resnet20", Width: 0.25, Batch: 32, LimitTrain: 256, LimitTest: 96, Holdout: 0.25,
		LR: 0.4, Schedule: "constant", Seed: 3, Epochs: 5, Out: out}
	r, err := Prepare(testutil.Choice(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Val == nil || r.Val.N+r.Train.N != 256 || r.Val.N < 50 || r.Val.N > 80 {
		t.Fatalf("validation split: %v of 256 training images", r.Val)
	}
	if joined := strings.Join(r.Lines, "\n"); !strings.Contains(joined, fmt.Sprintf("%d training, %d validation and 96 test images", r.Train.N, r.Val.N)) {
		t.Errorf("the data line does not state the three splits:\n%s", joined)
	}
	var log strings.Builder
	r.Trainer.Log = &log
	h, err := r.Trainer.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	best, bestAcc := 0, -1.0
	var accs []float64
	for _, e := range h.Epochs {
		if !math.IsNaN(e.TestAcc) || !math.IsNaN(e.TestLoss) {
			t.Errorf("epoch %d: the test set was evaluated during training (%v, %v)", e.Epoch, e.TestLoss, e.TestAcc)
		}
		if e.ValAcc > bestAcc {
			best, bestAcc = e.Epoch, e.ValAcc
		}
		accs = append(accs, e.ValAcc)
	}
	s := h.Selected
	if s == nil || s.Epoch != best || s.ValAcc != bestAcc {
		t.Fatalf("selected %+v; the validation accuracies %v make epoch %d the best", s, accs, best)
	}
	t.Logf("validation accuracy per epoch %v: selected epoch %d, test accuracy %.4f", accs, s.Epoch, s.TestAcc)
	if !strings.Contains(log.String(), "val_acc") || !strings.Contains(log.String(), fmt.Sprintf("selected epoch %d of 5 on validation", best)) {
		t.Errorf("the log does not show the validation columns and the selection:\n%s", log.String())
	}
	if got := confusionOf(t, r); got != fmt.Sprint(h.Confusion) {
		t.Errorf("the trained model predicts %s; the selected epoch's test evaluation counted %v", got, h.Confusion)
	}
	var correct int64
	for i, row := range h.Confusion {
		correct += row[i]
	}
	if math.Abs(float64(correct)/96-s.TestAcc) > 1e-6 {
		t.Errorf("selected test accuracy %v, its confusion matrix says %v", s.TestAcc, float64(correct)/96)
	}

	// Reopened: the last checkpoint holds the last epoch's weights; UseSelected puts the chosen ones back.
	o.Resume = true
	r2, err := Prepare(testutil.Choice(t), o)
	if err != nil {
		t.Fatal(err)
	}
	r2.Trainer.Log = io.Discard
	epoch, err := r2.Trainer.UseSelected()
	if err != nil || epoch != best {
		t.Fatalf("UseSelected: epoch %d, %v; want %d", epoch, err, best)
	}
	if got := confusionOf(t, r2); got != fmt.Sprint(h.Confusion) {
		t.Errorf("the reopened run, with the selected weights, predicts %s; want %v", got, h.Confusion)
	}
}

// TestHeadLRScale: Options.HeadLRScale multiplies the new head's learning rate, and only the head's.
// With a frozen backbone, one SGD step from the same start (seed, batch) moves the head's weights
// exactly HeadLRScale times as far; the option is refused where there is no new head.
func TestHeadLRScale(t *testing.T) {
	dir := twoClassFolder(t, 10)
	src := sourceRun(t, dir)
	// The head after one step; the start is the head after a step of a negligible rate (the new head's
	// variables exist only once the training graph is built).
	head := func(lr, scale float64) []float32 {
		r, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20", Width: 0.25,
			Epochs: 1, Batch: 8, LimitTrain: 8, Seed: 7, Schedule: "constant", LR: lr, InitFrom: src, FreezeBackbone: true, HeadLRScale: scale})
		if err != nil {
			t.Fatal(err)
		}
		if joined := strings.Join(r.Lines, "\n"); scale != 1 && !strings.Contains(joined, fmt.Sprintf("new head lr %.3g (×%g)", lr*scale, scale)) {
			t.Errorf("the training line does not state the head's rate:\n%s", joined)
		}
		r.Trainer.Log = io.Discard
		if _, err := r.Trainer.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](r.Trainer.Store().GetVariable(headPrefix + "dense/weights").MustValue())
	}
	start, h1, h10 := head(1e-12, 1), head(0.01, 1), head(0.01, 10)
	d1, d10 := make([]float64, len(start)), make([]float64, len(start))
	for i := range start {
		d1[i], d10[i] = float64(h1[i]-start[i]), float64(h10[i]-start[i])
	}
	var n1, n10 float64
	for i := range d1 {
		n1 += d1[i] * d1[i]
		n10 += d10[i] * d10[i]
	}
	if ratio := math.Sqrt(n10 / n1); n1 == 0 || math.Abs(ratio-10) > 1e-3 {
		t.Errorf("one step moved the head %.4g times as far with HeadLRScale 10 as with 1, want 10", ratio)
	}
	for _, o := range []Options{{HeadLRScale: 10}, {HeadLRScale: 10, InitFrom: src, Optimizer: "adam"}, {HeadLRScale: math.NaN()}} {
		o.Dataset, o.Data, o.ImageSize, o.Model, o.Width = "folder", dir, 16, "resnet20", 0.25
		if _, err := Prepare(testutil.Choice(t), o); err == nil || !strings.Contains(err.Error(), "Options.HeadLRScale") {
			t.Errorf("Prepare(HeadLRScale %v, InitFrom %q, Optimizer %q): error %v, want one naming Options.HeadLRScale", o.HeadLRScale, o.InitFrom, o.Optimizer, err)
		}
	}
}
