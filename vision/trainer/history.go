package trainer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
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
	TestLoss     float64 `json:"test_loss"`
	TestAcc      float64 `json:"test_accuracy"`
	LR           float64 `json:"lr"` // learning rate at the epoch's last step
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
	// Confusion is the test confusion matrix after the last epoch: Confusion[true][predicted].
	Confusion [][]int64 `json:"confusion,omitempty"`
	Started   time.Time `json:"started"`
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

// Last returns the last epoch, or nil before the first one ends.
func (h *History) Last() *Epoch {
	if len(h.Epochs) == 0 {
		return nil
	}
	return &h.Epochs[len(h.Epochs)-1]
}

// CSV columns, in order.
var csvHeader = []string{"epoch", "seconds", "images_per_sec", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "eval_seconds", "images", "steps"}

// WriteCSV writes the per-epoch rows as CSV.
func (h *History) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, e := range h.Epochs {
		if err := cw.Write([]string{strconv.Itoa(e.Epoch), f(e.Seconds), f(e.ImagesPerSec), f(e.TrainLoss), f(e.TrainAcc),
			f(e.TestLoss), f(e.TestAcc), f(e.LR), f(e.EvalSeconds), strconv.Itoa(e.Images), strconv.Itoa(e.Steps)}); err != nil {
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
	fmt.Fprintf(&b, "%5s %9s %9s %10s %9s %9s %9s %9s\n", "epoch", "seconds", "img/s", "train_loss", "train_acc", "test_loss", "test_acc", "lr")
	for _, e := range h.Epochs {
		b.WriteString(e.Line() + "\n")
	}
	return b.String()
}

// Line formats one epoch as a row of Table.
func (e Epoch) Line() string {
	return fmt.Sprintf("%5d %9.1f %9.0f %10.4f %9.4f %9.4f %9.4f %9.2g", e.Epoch, e.Seconds, e.ImagesPerSec,
		e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc, e.LR)
}

// WriteFileAtomic writes a file so that readers, and a run killed at any moment, see either the old
// content or the new, never a mix (see internal/fsutil).
func WriteFileAtomic(path string, data []byte) error {
	return fsutil.WriteFileAtomic(path, data, 0o644)
}
