package trainer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/fsutil"
)

// Epoch is one row of the training history.
type Epoch struct {
	Epoch        int     `json:"epoch"`          // 1-based
	Seconds      float64 `json:"seconds"`        // wall time of the training pass (data waits included, evaluation not)
	EvalSeconds  float64 `json:"eval_seconds"`   // wall time of the test evaluation
	Images       int     `json:"images"`         // training images seen
	ImagesPerSec float64 `json:"images_per_sec"` // Images / Seconds
	Steps        int     `json:"steps"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_accuracy"`
	// TestLoss and TestAcc are the test set's figures after this epoch; in a run with a validation
	// split (Data.Val) the test set is not looked at during training, and they are NaN (null in JSON):
	// see ValLoss, ValAcc and History.Selected.
	TestLoss float64 `json:"test_loss"`
	TestAcc  float64 `json:"test_accuracy"`
	// ValLoss and ValAcc are the validation split's figures after this epoch (Data.Val), on which the
	// run selects its epoch; 0 without a validation split.
	ValLoss float64 `json:"val_loss,omitempty"`
	ValAcc  float64 `json:"val_accuracy,omitempty"`
	LR      float64 `json:"lr"` // learning rate at the epoch's last step
	// Interrupted is true when the epoch was split across runs (stopped by a signal, then resumed).
	Interrupted bool      `json:"interrupted,omitempty"`
	FinishedAt  time.Time `json:"finished_at"`
}

// StepRecord is one point of the per-step training log.
type StepRecord struct {
	Step     int     `json:"step"`     // global step, from 1
	Epoch    float64 `json:"epoch"`    // fractional epoch, for plotting beside per-epoch figures
	Loss     float64 `json:"loss"`     // this batch's loss
	Accuracy float64 `json:"accuracy"` // the epoch's training accuracy so far
}

// Environment records where a run happened: the backend, devices, and the SLURM job if any.
type Environment struct {
	Backend string `json:"backend"`
	Reason  string `json:"backend_reason,omitempty"`
	Devices int    `json:"devices"`
	// Used is how many of the devices the run trained on (data parallelism); 0 in histories from
	// before it was recorded.
	Used     int               `json:"devices_used,omitempty"`
	Device   string            `json:"device,omitempty"` // first device's description
	Host     string            `json:"host"`
	GoMaxPro int               `json:"gomaxprocs"`
	SLURM    map[string]string `json:"slurm,omitempty"`
	// Changed lists the settings this run changed from the checkpoint it resumed, e.g. "Config.LR 10 → 1"
	// (History.Config holds the latest).
	Changed []string `json:"changed,omitempty"`
}

// History is everything a run learned about itself: its configuration, where it ran, and one row per
// epoch. It is written as history.json (all of it) and history.csv (the rows) after every epoch.
type History struct {
	Model      string        `json:"model"`
	Dataset    string        `json:"dataset"`
	Classes    []string      `json:"classes,omitempty"`
	Config     Config        `json:"config"`
	Parameters int           `json:"parameters"`
	Env        []Environment `json:"environments"` // one per run (a resumed training adds one)
	// CompileSeconds is the wall time of the first training step of the first run: graph building and
	// compilation (XLA's can take seconds), which the first epoch's figures include.
	CompileSeconds float64 `json:"compile_seconds"`
	Epochs         []Epoch `json:"epochs"`
	// Steps holds the batch loss every Config.LogEvery steps (empty when it is 0).
	Steps []StepRecord `json:"steps,omitempty"`
	// Confusion is the test confusion matrix after the last epoch (with a validation split: of the
	// selected epoch's weights): Confusion[true][predicted].
	Confusion [][]int64 `json:"confusion,omitempty"`
	// Selected is, in a run with a validation split, the epoch chosen on it and the test set's figures
	// for that epoch's weights, evaluated once, after training; nil otherwise.
	Selected *Selection `json:"selected,omitempty"`
	Started  time.Time  `json:"started"`
	// Divergences records every time this run stopped because the training loss stopped being a finite
	// number (kept across resumptions).
	Divergences []Divergence `json:"divergences,omitempty"`
}

// Divergence is where a run stopped because its training loss became NaN or infinite.
type Divergence struct {
	Epoch      int     `json:"epoch"`       // 1-based
	Step       int     `json:"step"`        // within the epoch, 1-based
	GlobalStep int     `json:"global_step"` // from the start of the run, 1-based
	Loss       float64 `json:"loss"`        // the batch loss: NaN or ±Inf, written as null
	LR         float64 `json:"lr"`          // the peak learning rate of the run (Config.LR)
	// Variable, when set, is the variable found holding NaN or ±Inf before a checkpoint (the loss was
	// still finite: a NaN gradient); Loss is then NaN.
	Variable string `json:"variable,omitempty"`
	// Checkpoint is the last good checkpoint, kept: the run resumes from there ("" if none was written).
	Checkpoint string    `json:"checkpoint,omitempty"`
	At         time.Time `json:"at"`
}

// Selection is the epoch a run with a validation split chose: the one of highest validation accuracy
// (the earliest of equals), and the test set's figures for its weights, measured once.
type Selection struct {
	Epoch    int     `json:"epoch"` // 1-based
	ValLoss  float64 `json:"val_loss"`
	ValAcc   float64 `json:"val_accuracy"`
	TestLoss float64 `json:"test_loss"`
	TestAcc  float64 `json:"test_accuracy"`
}

// Validated reports whether the run evaluated a validation split every epoch (and the test set once).
func (h *History) Validated() bool {
	return h.Selected != nil || len(h.Epochs) > 0 && h.Epochs[0].ValAcc > 0 || len(h.Epochs) > 0 && math.IsNaN(h.Epochs[0].TestAcc)
}

// Last returns the last epoch, or nil before the first one ends.
func (h *History) Last() *Epoch {
	if len(h.Epochs) == 0 {
		return nil
	}
	return &h.Epochs[len(h.Epochs)-1]
}

// CSV columns, in order.
var csvHeader = []string{"epoch", "seconds", "images_per_sec", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "eval_seconds", "images", "steps", "val_loss", "val_accuracy"}

// WriteCSV writes the per-epoch rows as CSV.
func (h *History) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, e := range h.Epochs {
		if err := cw.Write([]string{strconv.Itoa(e.Epoch), f(e.Seconds), f(e.ImagesPerSec), f(e.TrainLoss), f(e.TrainAcc),
			f(e.TestLoss), f(e.TestAcc), f(e.LR), f(e.EvalSeconds), strconv.Itoa(e.Images), strconv.Itoa(e.Steps),
			f(e.ValLoss), f(e.ValAcc)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Save writes history.json and history.csv into dir, each atomically.
func (h *History) Save(dir string) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "history.json"), append(data, '\n')); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := h.WriteCSV(&buf); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "history.csv"), buf.Bytes())
}

// LoadHistory reads a history.json (written by Save); the error names the file.
func LoadHistory(path string) (*History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s: not a training history: %w", path, err)
	}
	for i, e := range h.Epochs {
		if e.Epoch != i+1 {
			return nil, fmt.Errorf("%s: epoch %d is recorded as number %d", path, i+1, e.Epoch)
		}
	}
	return &h, nil
}

// Table formats the epochs as an aligned text table (the per-epoch lines of `gonbgpu train`).
func (h *History) Table() string {
	var b strings.Builder
	b.WriteString(TableHeader(h.Validated()) + "\n")
	for _, e := range h.Epochs {
		b.WriteString(e.Line() + "\n")
	}
	return b.String()
}

// TableHeader is the header of Table: with a validation split, its columns are the validation
// split's figures (val_loss, val_acc), not the test set's.
func TableHeader(validated bool) string {
	if validated {
		return fmt.Sprintf("%5s %9s %9s %10s %9s %9s %9s %9s", "epoch", "seconds", "img/s", "train_loss", "train_acc", "val_loss", "val_acc", "lr")
	}
	return fmt.Sprintf("%5s %9s %9s %10s %9s %9s %9s %9s", "epoch", "seconds", "img/s", "train_loss", "train_acc", "test_loss", "test_acc", "lr")
}

// Line formats one epoch as a row of Table: the validation split's figures in a run that has one.
func (e Epoch) Line() string {
	loss, acc := e.TestLoss, e.TestAcc
	if math.IsNaN(acc) {
		loss, acc = e.ValLoss, e.ValAcc
	}
	return fmt.Sprintf("%5d %9.1f %9.0f %10.4f %9.4f %9.4f %9.4f %9.2g", e.Epoch, e.Seconds, e.ImagesPerSec,
		e.TrainLoss, e.TrainAcc, loss, acc, e.LR)
}

// Line formats the selection: "selected epoch 7 of 10 on validation (val_acc 0.8400): test_acc 0.7867, test_loss 0.5775".
func (s *Selection) Line(epochs int) string {
	return fmt.Sprintf("selected epoch %d of %d on validation (val_acc %.4f): test_acc %.4f, test_loss %.4f", s.Epoch, epochs, s.ValAcc, s.TestAcc, s.TestLoss)
}

// WriteFileAtomic writes a file so that readers, and a run killed at any moment, see either the old
// content or the new, never a mix (see internal/fsutil).
func WriteFileAtomic(path string, data []byte) error {
	return fsutil.WriteFileAtomic(path, data, 0o644)
}
