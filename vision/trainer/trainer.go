// Package trainer trains image classifiers epoch by epoch, the way the course and `gonbgpu train` need:
// wall time and images/s per epoch, train and test loss and accuracy, a confusion matrix, a history saved
// as JSON and CSV, an atomic checkpoint after every epoch, and resumption that neither loses nor repeats
// an epoch — also after SIGTERM (SLURM's time limit), which checkpoints mid-epoch before exiting.
//
// It drives GoMLX's train.Trainer for the steps (graph building, compilation, optimizer updates) and
// adds what a course needs around it.
package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/internal/tensorutil"
	"github.com/gonbgpu/gonbgpu/vision/optim"
)

// ErrInterrupted is returned by Run when its context was cancelled (SIGTERM, Ctrl-C): a checkpoint was
// written first, and Run with Resume continues from it.
var ErrInterrupted = errors.New("training interrupted; a checkpoint was written: run again with Config.Resume to continue")

// DivergedError is returned by Run when the training loss became NaN or infinite: the run stopped at
// that step, wrote its history (with the divergence) and kept the last good checkpoint, from which Resume
// continues — with a lower learning rate, typically.
type DivergedError struct {
	Divergence
	OutDir string
}

func (e *DivergedError) Error() string {
	what := fmt.Sprintf("the loss is %v", e.Loss)
	if e.Variable != "" {
		what = fmt.Sprintf("variable %s holds NaN or infinite values", e.Variable)
	}
	kept := "no epoch had completed, so there is no checkpoint: run again with Config.Resume to start over"
	if e.Checkpoint != "" {
		kept = fmt.Sprintf("the last good checkpoint, %s, is kept: run again with Config.Resume to continue from it", e.Checkpoint)
	} else if e.OutDir == "" {
		kept = "nothing was saved (no output folder)"
	}
	return fmt.Sprintf("training diverged: %s at epoch %d, step %d (step %d of the run); %s, "+
		"with a lower learning rate (Config.LR, now %.3g; try %.3g)", what, e.Epoch, e.Step, e.GlobalStep, kept, e.LR, e.LR/10)
}

// Setting is one named value a run depends on, named as the library that takes it names it: a Config
// field (Config.BatchSize) or a caller's option (vision/recipe's Options.LimitTrain). A command line maps
// those names to its flags when it shows an error.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Config holds a training run's settings.
type Config struct {
	Model   string `json:"model"`   // name, recorded in the history
	Dataset string `json:"dataset"` // name, recorded in the history

	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`

	Optimizer      string         `json:"optimizer"` // "sgd" or "adam"
	LR             float64        `json:"lr"`
	Momentum       float64        `json:"momentum,omitempty"`
	WeightDecay    float64        `json:"weight_decay,omitempty"`
	Nesterov       bool           `json:"nesterov,omitempty"`
	Schedule       optim.Schedule `json:"schedule"`
	WarmupEpochs   float64        `json:"warmup_epochs,omitempty"`
	LabelSmoothing float64        `json:"label_smoothing,omitempty"`
	// LRScales give some variables their own learning rate, a multiple of LR (SGD only): e.g. a new
	// classifier on pretrained weights, {"/model/head/", 10}. Variable paths start with "/model/".
	LRScales []optim.Scale `json:"lr_scales,omitempty"`

	Seed int64 `json:"seed"`

	// OutDir receives history.json, history.csv and checkpoints/. Empty: nothing is saved.
	OutDir string `json:"-"`
	// Resume continues from OutDir's latest checkpoint, if there is one.
	Resume bool `json:"-"`
	// KeepCheckpoints is how many checkpoints to keep (default 2).
	KeepCheckpoints int `json:"-"`
	// LogEvery, when positive, records the batch loss every LogEvery steps in History.Steps, for curves
	// finer than one point per epoch. Each record waits for its step (a device sync), so keep it off for
	// throughput runs.
	LogEvery int `json:"log_every,omitempty"`
	// RecalibrateBN, when positive, re-estimates the batch-norm averages from that many training batches
	// before each evaluation ("precise BN"). Evaluation uses these averages instead of batch statistics;
	// in a short run, or while the weights still change fast, the moving averages lag behind the weights
	// and test figures come out meaningless. It costs two forward passes over those batches.
	RecalibrateBN int `json:"recalibrate_bn,omitempty"`

	// DataOrder lists what, besides BatchSize and Seed, decides which images each training batch holds
	// and how they are augmented: the data set, its limits and split, the augmentation... (recipe fills
	// it, named by flag). It is recorded in the checkpoint, and a resumed run must match it exactly:
	// otherwise a resumption in the middle of an epoch repeats some images and skips others, and even
	// at an epoch's end the learning-rate schedule no longer fits the steps. New refuses such a resume,
	// naming the setting that differs.
	DataOrder []Setting `json:"data_order,omitempty"`
}

// Validate checks the config, with errors that name the bad value.
func (c *Config) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs must be ≥ 1, got %d", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("batch size must be ≥ 1, got %d", c.BatchSize)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing must be in [0, 1), got %v", c.LabelSmoothing)
	case !(c.WarmupEpochs >= 0) || math.IsInf(c.WarmupEpochs, 0):
		return fmt.Errorf("warm-up epochs must be a finite number ≥ 0, got %v", c.WarmupEpochs)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"learning rate", c.LR}, {"momentum", c.Momentum}, {"weight decay", c.WeightDecay}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s must be a finite number, got %v", f.name, f.v)
		}
	}
	_, err := optim.New(c.optimConfig(1))
	return err
}

func (c *Config) optimConfig(stepsPerEpoch int) optim.Config {
	return optim.Config{Name: c.Optimizer, LR: c.LR, Momentum: c.Momentum, Nesterov: c.Nesterov,
		WeightDecay: c.WeightDecay, Schedule: c.Schedule, TotalSteps: c.Epochs * stepsPerEpoch,
		WarmupSteps: int(c.WarmupEpochs * float64(stepsPerEpoch)), Scales: c.LRScales}
}

// ModelFn builds a classifier: images [B,H,W,C] float32 in, logits [B,classes] out. Its variables are
// created under scope.
type ModelFn func(scope *model.Scope, images *graph.Node) *graph.Node

// Epocher is implemented by datasets whose order and augmentation depend on the epoch (so that each
// epoch differs, and a resumed epoch is the same epoch again).
type Epocher interface{ SetEpoch(epoch int) }

// Sized is implemented by datasets that know their number of batches per epoch.
type Sized interface{ NumBatches() int }

// Skipper is implemented by datasets that can start an epoch at a given batch cheaply (without preparing
// the batches skipped); otherwise a resumed mid-epoch run iterates past them.
type Skipper interface{ StartAt(batch int) }

// Data is what a run trains and tests on.
type Data struct {
	Train, Test train.Dataset
	// Val, when set, is a validation split, held out from the training images: it is evaluated after
	// every epoch instead of the test set, the run keeps the weights of the epoch where its accuracy
	// was highest (in OUT/selected/), and the test set is evaluated once, after the last epoch, with
	// those weights (History.Selected). Without it the test set is evaluated after every epoch, and
	// choosing an epoch on those figures would report a test accuracy that was selected on the test set.
	Val     train.Dataset
	Classes []string
}

// Trainer runs training.
type Trainer struct {
	cfg      Config
	platform *platform.Choice // where it computes: the history records it
	backend  compute.Backend  // platform.Backend
	store    *model.Store
	gt       *train.Trainer
	data     Data
	conf     *confusionMetric

	trainLoss, trainAcc metric.Interface
	// testLoss and testAcc are the evaluation's means over real images (padded multi-device batches carry
	// a mask): GoMLX's own mean loss weighs every batch by its full size.
	testLoss, testAcc metric.Interface
	// at says where each figure comes in the values GoMLX's steps return (see metricPositions).
	at metricPositions

	// Log receives the per-epoch lines and notices (default os.Stdout).
	Log io.Writer
	// Progress shows progress within an epoch (default AutoProgress(0)).
	Progress Progress
	// OnEpoch, if set, is called after each epoch with the history so far (the epoch's checkpoint
	// written), before the epoch's row of the table is printed to Log. So a live figure it creates at the
	// first epoch and updates in place (kernel.Update, plot.Figure.Update) stands above the table in a
	// notebook cell, and the table's rows follow each other in one output, as they do in a terminal;
	// created after the first row, the figure would cut the table in two. Text it prints goes before the
	// epoch's row.
	OnEpoch func(h *History)

	hist  *History
	st    *state
	saver *saver
	// changed lists the settings this run changed from the checkpoint it resumed (Environment.Changed).
	changed []string
	// sel is the selection on the validation split so far (Data.Val).
	sel selection
	// forward is the model as GoMLX's trainer calls it; bnExecs are the compiled graphs of the two
	// phases of the batch-norm re-estimation (see recalibrateBN), built once and kept.
	forward func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node
	bnExecs [2]*model.Exec
}

// New prepares a run on the backend of c (gpu.Default(), or platform.Of(b) for a backend made by other
// means); its history records c's name, reason and device. With cfg.Resume and a checkpoint in
// cfg.OutDir, the model, optimizer state and history continue from it.
func New(c *platform.Choice, cfg Config, modelFn ModelFn, data Data) (*Trainer, error) {
	if c == nil || c.Backend == nil {
		return nil, fmt.Errorf("trainer.New: no backend (pass gpu.Default()'s choice, or platform.Of(backend))")
	}
	backend := c.Backend
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(data.Classes) < 2 {
		return nil, fmt.Errorf("need at least 2 classes, got %d", len(data.Classes))
	}
	if cfg.KeepCheckpoints == 0 {
		cfg.KeepCheckpoints = 2
	}
	t := &Trainer{cfg: cfg, platform: c, backend: backend, store: model.NewStore(), data: data,
		Log: os.Stdout, Progress: AutoProgress(0), conf: &confusionMetric{numClasses: len(data.Classes)}}
	// Seeded initialisation: the same seed gives the same initial weights, so runs can be compared and
	// an interrupted-then-resumed run equals an uninterrupted one.
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	t.store.SetParam(model.ParamInitialSeed, seed)
	cfg.DataOrder = append([]Setting{{"Config.BatchSize", fmt.Sprint(cfg.BatchSize)}, {"Config.Seed", fmt.Sprint(seed)}}, cfg.DataOrder...)
	t.cfg.DataOrder = cfg.DataOrder
	t.st = &state{History: &History{Model: cfg.Model, Dataset: cfg.Dataset, Classes: data.Classes, Config: cfg, Started: time.Now()}}

	if cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("output folder %s: %w", cfg.OutDir, err)
		}
		ckdir := filepath.Join(cfg.OutDir, "checkpoints")
		if cfg.Resume {
			path, st, err := latest(ckdir)
			if err != nil {
				return nil, err
			}
			if st != nil {
				if st.History.Model != cfg.Model || st.History.Dataset != cfg.Dataset {
					return nil, fmt.Errorf("Config.Resume: checkpoint %s trained %s on %s, not %s on %s",
						path, st.History.Model, st.History.Dataset, cfg.Model, cfg.Dataset)
				}
				if err := sameDataOrder(path, st, cfg, stepsPerEpoch(data.Train)); err != nil {
					return nil, err
				}
				if err := restore(t.store, path); err != nil {
					return nil, err
				}
				// More epochs, another learning rate... may be asked for on resume (after a divergence, typically):
				// the history takes the new settings, and this run's environment record says what changed.
				t.changed = configChanges(st.History.Config, cfg)
				st.History.Config = cfg
				t.st = st
				if data.Val != nil {
					if err := t.sel.resume(cfg.OutDir); err != nil {
						return nil, err
					}
				}
				fmt.Fprintf(t.Log, "resuming from %s: %d epoch(s) done", path, st.EpochsDone)
				if st.Batch > 0 {
					fmt.Fprintf(t.Log, ", %d batch(es) into epoch %d", st.Batch, st.EpochsDone+1)
				}
				fmt.Fprintln(t.Log)
				if len(t.changed) > 0 {
					fmt.Fprintf(t.Log, "changed since the checkpoint: %s\n", strings.Join(t.changed, ", "))
				}
			} else {
				fmt.Fprintf(t.Log, "no checkpoint in %s yet: starting from the beginning\n", ckdir)
			}
			t.keepDivergences()
		} else if names, _ := checkpoints(ckdir); len(names) > 0 {
			return nil, fmt.Errorf("%s already holds checkpoints: set Config.Resume to continue that run, or choose another Config.OutDir", ckdir)
		} else if _, err := os.Stat(filepath.Join(cfg.OutDir, "history.json")); err == nil {
			return nil, fmt.Errorf("%s already holds the history.json of another run: set Config.Resume to continue that run "+
				"(keeping its history), or choose another Config.OutDir", cfg.OutDir)
		}
		s, err := newSaver(t.store, ckdir, cfg.KeepCheckpoints)
		if err != nil {
			return nil, err
		}
		t.saver = s
	}
	t.hist = t.st.History

	steps := stepsPerEpoch(data.Train)
	t.st.StepsPerEpoch = steps
	if steps == 0 {
		return nil, errors.New("the training dataset must report its number of batches (NumBatches)")
	}
	opt, err := optim.New(cfg.optimConfig(steps))
	if err != nil {
		return nil, err
	}
	// GoMLX's trainer reports the loss per batch and as a moving average; the history wants epoch means.
	t.trainLoss = &epochMean{name: "Epoch Mean Loss", scope: "epoch_loss",
		fn: func(_, predictions []*graph.Node) *graph.Node { return train.TotalLoss(predictions[0].Graph()) }}
	t.trainAcc = &epochMean{name: "Epoch Accuracy", scope: "epoch_accuracy",
		fn: func(labels, predictions []*graph.Node) *graph.Node {
			return metric.SparseCategoricalAccuracyGraph(nil, labels, predictions)
		}}
	t.testLoss = &epochMean{name: "Test Loss", scope: "test_loss",
		fn: func(labels, predictions []*graph.Node) *graph.Node {
			return CrossEntropy(cfg.LabelSmoothing)(labels, predictions)
		}}
	t.testAcc = &epochMean{name: "Test Accuracy", scope: "test_accuracy", fn: accuracy}
	wrapped := func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node {
		variablesAsParameters(scope.Store(), inputs[0].Graph())
		return []*graph.Node{modelFn(scope.In("model"), inputs[0])}
	}
	t.forward = wrapped
	t.gt = train.NewTrainer(backend, t.store, wrapped, CrossEntropy(cfg.LabelSmoothing), opt,
		[]metric.Interface{t.trainLoss, t.trainAcc},
		[]metric.Interface{t.testLoss, t.testAcc, t.conf})
	if t.at, err = t.metricPositions(); err != nil {
		return nil, err
	}
	return t, nil
}

// metricPositions says where each figure the trainer reads comes in the values of GoMLX's train and eval
// steps, which follow its TrainMetrics and EvalMetrics: GoMLX puts metrics of its own before ours (a batch
// loss and its moving average; WithMainLossMetric inserts one more), so fixed positions would read
// another metric as soon as that list changes.
type metricPositions struct {
	batchLoss, trainLoss, trainAcc int // in a train step's values
	testLoss, testAcc              int // in Eval's
}

func (t *Trainer) metricPositions() (metricPositions, error) {
	find := func(list []metric.Interface, what string, is func(metric.Interface) bool) (int, error) {
		for i, m := range list {
			if is(m) {
				return i, nil
			}
		}
		names := make([]string, len(list))
		for i, m := range list {
			names[i] = m.Name()
		}
		return 0, fmt.Errorf("trainer: GoMLX's trainer reports no %s (its metrics: %s)", what, strings.Join(names, ", "))
	}
	same := func(want metric.Interface) func(metric.Interface) bool {
		return func(m metric.Interface) bool { return m == want }
	}
	var p metricPositions
	var errs []error
	tm, em := t.gt.TrainMetrics(), t.gt.EvalMetrics()
	for _, f := range []struct {
		at   *int
		list []metric.Interface
		what string
		is   func(metric.Interface) bool
	}{
		{&p.batchLoss, tm, "batch loss", func(m metric.Interface) bool { return m.ShortName() == "loss" }},
		{&p.trainLoss, tm, "training loss", same(t.trainLoss)},
		{&p.trainAcc, tm, "training accuracy", same(t.trainAcc)},
		{&p.testLoss, em, "test loss", same(t.testLoss)},
		{&p.testAcc, em, "test accuracy", same(t.testAcc)},
	} {
		i, err := find(f.list, f.what, f.is)
		*f.at = i
		errs = append(errs, err)
	}
	return p, errors.Join(errs...)
}

// stepsPerEpoch is the number of training steps of one epoch, 0 if the dataset does not say.
func stepsPerEpoch(ds train.Dataset) int {
	if s, ok := ds.(Sized); ok {
		return s.NumBatches()
	}
	return 0
}

// sameDataOrder refuses to resume the checkpoint at path (state st) with settings cfg that would change
// which images the training batches hold: the error names the first setting that differs.
func sameDataOrder(path string, st *state, cfg Config, steps int) error {
	recorded := map[string]string{}
	for _, s := range st.History.Config.DataOrder {
		recorded[settingName(s.Name)] = s.Value
	}
	// Checkpoints written before DataOrder existed still know their batch size and seed.
	if len(recorded) == 0 {
		recorded["Config.BatchSize"] = fmt.Sprint(st.History.Config.BatchSize)
		recorded["Config.Seed"] = fmt.Sprint(st.History.Config.Seed)
	}
	for _, s := range cfg.DataOrder {
		if was, ok := recorded[settingName(s.Name)]; ok && was != s.Value {
			return fmt.Errorf("Config.Resume: %s differs: checkpoint %s was trained with %s %s, this run has %s %s; the "+
				"order of the training images depends on it, so resuming would repeat or skip images: resume with %s %s, "+
				"or start a new run with another Config.OutDir", s.Name, path, s.Name, quoteEmpty(was), s.Name, quoteEmpty(s.Value), s.Name, quoteEmpty(was))
		}
	}
	for name, was := range recorded {
		found := false
		for _, s := range cfg.DataOrder {
			found = found || settingName(s.Name) == name
		}
		if !found {
			return fmt.Errorf("Config.Resume: checkpoint %s was trained with %s %s, which this run does not set; resume with "+
				"the same settings, or start a new run with another Config.OutDir", path, name, quoteEmpty(was))
		}
	}
	if st.StepsPerEpoch > 0 && steps > 0 && st.StepsPerEpoch != steps {
		return fmt.Errorf("Config.Resume: checkpoint %s was trained with %d steps per epoch, this run has %d: the training "+
			"data, the global batch, or the last partial batch (kept on one device, dropped on several, which need equal shares) differ, so resuming would repeat or skip images",
			path, st.StepsPerEpoch, steps)
	}
	return nil
}

// legacySettings are the names under which histories written before 2026-12-05 recorded their data-order
// settings: the command line's flags. Resuming such a run reads them under today's names.
var legacySettings = map[string]string{
	"--batch": "Config.BatchSize", "--seed": "Config.Seed", "--dataset": "Options.Dataset",
	"--limit-train": "Options.LimitTrain", "--limit-test": "Options.LimitTest", "--no-augment": "Options.NoAugment",
	"--size": "Options.ImageSize", "--val-fraction": "Options.ValFraction", "--skip-bad": "Options.SkipBad",
	"--data": "Options.Data",
}

// settingName is a recorded setting's name as this version names it.
func settingName(recorded string) string {
	if now, ok := legacySettings[recorded]; ok {
		return now
	}
	return recorded
}

// configChanges lists the settings of now that differ from was, e.g. "Config.LR 10 → 1".
func configChanges(was, now Config) []string {
	var out []string
	for _, c := range []struct {
		flag     string
		was, now any
	}{
		{"Config.Epochs", was.Epochs, now.Epochs}, {"Config.Optimizer", was.Optimizer, now.Optimizer}, {"Config.LR", was.LR, now.LR},
		{"Config.Momentum", was.Momentum, now.Momentum}, {"Config.WeightDecay", was.WeightDecay, now.WeightDecay},
		{"Config.Nesterov", was.Nesterov, now.Nesterov}, {"Config.Schedule", was.Schedule, now.Schedule},
		{"Config.WarmupEpochs", was.WarmupEpochs, now.WarmupEpochs}, {"Config.LabelSmoothing", was.LabelSmoothing, now.LabelSmoothing},
		{"Config.LRScales", was.LRScales, now.LRScales},
	} {
		if fmt.Sprint(c.was) != fmt.Sprint(c.now) {
			out = append(out, fmt.Sprintf("%s %v → %v", c.flag, c.was, c.now))
		}
	}
	return out
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// keepDivergences carries the divergences recorded in OUT/history.json into a resumed run's history:
// the checkpoint it resumes from was written before them.
func (t *Trainer) keepDivergences() {
	old, err := LoadHistory(filepath.Join(t.cfg.OutDir, "history.json"))
	if err != nil || len(old.Divergences) <= len(t.st.History.Divergences) {
		return
	}
	if len(t.st.History.Epochs) > 0 && !old.Started.Equal(t.st.History.Started) {
		return // another run's history
	}
	t.st.History.Divergences = old.Divergences
}

// Store returns the model's variables (for inspection, or to evaluate after training).
func (t *Trainer) Store() *model.Store { return t.store }

// History returns the history so far.
func (t *Trainer) History() *History { return t.hist }

// environment describes where this run happens.
func (t *Trainer) environment() Environment {
	host, _ := os.Hostname()
	return Environment{Backend: t.platform.Name, Reason: t.platform.Reason, Devices: t.backend.NumDevices(),
		Device: t.platform.DeviceDescription(), Host: host, GoMaxPro: runtime.GOMAXPROCS(0), SLURM: t.platform.Job.Facts,
		Changed: t.changed, Used: t.data.devices()}
}

// Run trains until cfg.Epochs epochs are done or ctx is cancelled. On cancellation it checkpoints where it
// stands and returns ErrInterrupted (with the history so far).
func (t *Trainer) Run(ctx context.Context) (*History, error) {
	h := t.hist
	h.Env = append(h.Env, t.environment())
	h.Config.Epochs = t.cfg.Epochs
	steps := t.data.Train.(Sized).NumBatches()
	if h.Parameters == 0 {
		defer func() { h.Parameters = t.store.RootScope().In("model").NumParameters() }()
	}
	for epoch := t.st.EpochsDone; epoch < t.cfg.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return h, ErrInterrupted
		}
		resumedAt := t.st.Batch
		if resumedAt == 0 {
			if err := t.gt.ResetTrainMetrics(); err != nil {
				return h, err
			}
		}
		if e, ok := t.data.Train.(Epocher); ok {
			e.SetEpoch(epoch)
		}
		skipping := resumedAt
		if s, ok := t.data.Train.(Skipper); ok && resumedAt > 0 {
			s.StartAt(resumedAt)
			skipping = 0
		}
		t.Progress.Start(epoch+1, t.cfg.Epochs, steps)
		start := time.Now()
		done, images := resumedAt, t.st.PartialImages
		var last []*tensors.Tensor
		interrupted := false
		for run, err := range t.steps(t.data.Train, skipping) {
			if err != nil {
				t.Progress.Done()
				return h, fmt.Errorf("epoch %d: reading training data: %w", epoch+1, err)
			}
			stepStart := time.Now()
			metrics, n, err := run()
			if err != nil {
				t.Progress.Done()
				return h, t.platform.ExplainOutOfMemory(fmt.Errorf("epoch %d, step %d: %w", epoch+1, done+1, err),
					fmt.Sprintf("training with batch size %d", t.cfg.BatchSize))
			}
			if h.CompileSeconds == 0 {
				_ = metrics[t.at.batchLoss].Value() // wait for the first step, to time compilation
				h.CompileSeconds = time.Since(stepStart).Seconds()
			}
			// The previous step's loss is checked now that this one is queued: reading it then rarely
			// waits, and a diverged step is still caught before anything is saved.
			if err := t.checkFinite(last, epoch, done, steps); err != nil {
				t.Progress.Done()
				for _, m := range metrics {
					_ = m.FinalizeAll()
				}
				return h, err
			}
			for _, m := range last {
				_ = m.FinalizeAll()
			}
			last = metrics
			done++
			images += n
			loss := -1.0
			if done%20 == 0 || done == steps {
				loss = tensorutil.Float64(metrics[t.at.trainLoss]) // epoch mean loss so far; reading it waits for the step
			}
			if t.cfg.LogEvery > 0 && done%t.cfg.LogEvery == 0 {
				h.Steps = append(h.Steps, StepRecord{Step: epoch*steps + done, Epoch: float64(epoch) + float64(done)/float64(steps),
					Loss: tensorutil.Float64(metrics[t.at.batchLoss]), Accuracy: tensorutil.Float64(metrics[t.at.trainAcc])})
			}
			t.Progress.Step(done, loss)
			if ctx.Err() != nil && done < steps {
				interrupted = true
				break
			}
		}
		t.Progress.Done()
		if err := t.checkFinite(last, epoch, done, steps); err != nil {
			return h, err
		}
		// A step can leave NaN weights behind a finite loss (a NaN gradient): never checkpoint them.
		if err := t.checkWeights(epoch, done, steps); err != nil {
			return h, err
		}
		elapsed := time.Since(start).Seconds() + t.st.PartialSeconds
		if interrupted {
			t.st.Batch, t.st.PartialSeconds, t.st.PartialImages = done, elapsed, images
			if err := t.checkpoint(); err != nil {
				return h, err
			}
			fmt.Fprintf(t.Log, "interrupted in epoch %d after %d/%d steps: checkpoint written\n", epoch+1, done, steps)
			return h, ErrInterrupted
		}
		if last == nil {
			return h, fmt.Errorf("epoch %d: the training dataset yielded no batches", epoch+1)
		}
		rec := Epoch{Epoch: epoch + 1, Seconds: elapsed, Images: images, Steps: done,
			TrainLoss: tensorutil.Float64(last[t.at.trainLoss]), TrainAcc: tensorutil.Float64(last[t.at.trainAcc]), Interrupted: resumedAt > 0}
		if elapsed > 0 {
			rec.ImagesPerSec = float64(images) / elapsed
		}
		rec.LR = t.learningRate()
		evalStart := time.Now()
		if err := t.recalibrateBN(); err != nil {
			return h, fmt.Errorf("epoch %d: re-estimating batch-norm averages: %w", epoch+1, err)
		}
		evalOn := t.data.Test
		if t.data.Val != nil {
			evalOn = t.data.Val
		}
		res, err := t.gt.Eval(evalOn)
		if err != nil {
			return h, fmt.Errorf("epoch %d: evaluation: %w", epoch+1, err)
		}
		rec.EvalSeconds = time.Since(evalStart).Seconds()
		if t.data.Val != nil {
			rec.ValLoss, rec.ValAcc = t.evalFigures(res)
			rec.TestLoss, rec.TestAcc = math.NaN(), math.NaN() // not looked at until the epoch is chosen
			if err := t.sel.offer(t, rec); err != nil {
				return h, fmt.Errorf("epoch %d: keeping the weights of the best epoch on validation: %w", epoch+1, err)
			}
		} else {
			rec.TestLoss, rec.TestAcc = t.evalFigures(res)
			h.Confusion = t.conf.read(t.store)
		}
		rec.FinishedAt = time.Now()
		h.Epochs = append(h.Epochs, rec)
		t.st.EpochsDone, t.st.Batch, t.st.PartialSeconds, t.st.PartialImages = epoch+1, 0, 0, 0
		if h.Parameters == 0 {
			h.Parameters = t.store.RootScope().In("model").NumParameters()
		}
		if err := t.checkpoint(); err != nil {
			return h, err
		}
		// OnEpoch before the epoch's row: a figure it shows from the first epoch on stands above the table,
		// whose rows then follow each other in one block of text (see Trainer.OnEpoch).
		if t.OnEpoch != nil {
			t.OnEpoch(h)
		}
		if len(h.Epochs) == 1 || resumedAt > 0 {
			fmt.Fprintln(t.Log, TableHeader(t.data.Val != nil))
		}
		fmt.Fprintln(t.Log, rec.Line())
	}
	if t.data.Val != nil && (h.Selected == nil || h.Selected.Epoch != t.sel.epoch) {
		if err := t.testSelected(); err != nil {
			return h, err
		}
		fmt.Fprintln(t.Log, h.Selected.Line(len(h.Epochs)))
	}
	return h, nil
}

// checkFinite stops the run if the batch loss in metrics (those of step `step` of the epoch, 1-based) is
// NaN or infinite: it records the divergence in the history, saves the history (not a checkpoint: the
// last good one stays the latest) and returns a *DivergedError. nil metrics pass.
func (t *Trainer) checkFinite(metrics []*tensors.Tensor, epoch, step, steps int) error {
	if metrics == nil {
		return nil
	}
	loss := tensorutil.Float64(metrics[t.at.batchLoss])
	if !math.IsNaN(loss) && !math.IsInf(loss, 0) {
		return nil
	}
	return t.diverged(Divergence{Epoch: epoch + 1, Step: step, GlobalStep: epoch*steps + step, Loss: loss})
}

// checkWeights stops the run, as checkFinite does, if a variable of the store holds NaN or ±Inf after step
// `step` of the epoch: checked before every checkpoint, so that the last checkpoint is always good.
func (t *Trainer) checkWeights(epoch, step, steps int) error {
	for v := range t.store.IterVariables() {
		val, err := v.Value()
		if err != nil || val == nil || val.DType() != dtypes.Float32 {
			continue
		}
		bad := false
		_ = tensors.ConstFlatData(val, func(flat []float32) {
			for _, x := range flat {
				if x-x != 0 { // NaN and ±Inf
					bad = true
					return
				}
			}
		})
		if bad {
			return t.diverged(Divergence{Epoch: epoch + 1, Step: step, GlobalStep: epoch*steps + step, Loss: math.NaN(), Variable: v.String()})
		}
	}
	return nil
}

// diverged records d (adding the learning rate and the last good checkpoint), saves the history and
// returns the *DivergedError that stops the run.
func (t *Trainer) diverged(d Divergence) error {
	d.LR, d.At = t.cfg.LR, time.Now()
	loss := d.Loss
	if t.saver != nil {
		if names, _ := checkpoints(t.saver.dir); len(names) > 0 {
			d.Checkpoint = filepath.Join(t.saver.dir, names[len(names)-1])
		}
	}
	t.hist.Divergences = append(t.hist.Divergences, d)
	if t.cfg.OutDir != "" {
		if err := t.hist.Save(t.cfg.OutDir); err != nil {
			return fmt.Errorf("training diverged at epoch %d, step %d (loss %v), and saving the history failed: %w", d.Epoch, d.Step, loss, err)
		}
	}
	return &DivergedError{Divergence: d, OutDir: t.cfg.OutDir}
}

// recalibrateBN re-estimates the batch-norm averages from the first Config.RecalibrateBN training batches,
// as GoMLX's norm.UpdateBatchNormAverages does: the averages' weights are reset, then a first pass over
// the batches (phase 0) averages their means, a second (phase 1) their variances. GoMLX's trainer
// compiles both graphs anew at every call, which on XLA costs seconds per epoch (16 s of a 17 s
// evaluation, measured on xla:cpu with a ResNet-20); here they are compiled once and kept. On N devices it
// does the same as on one: the N per-device batches of each step are put back together on the host into
// the step's global batch, so the averages are estimated from the same images, in the same batches,
// whatever the number of devices.
func (t *Trainer) recalibrateBN() error {
	if t.cfg.RecalibrateBN <= 0 || !model.GetParamOr(t.store.RootScope(), norm.AveragesUpdatesTriggerParam, false) {
		return nil
	}
	src := t.data.Train
	if dd, ok := src.(*distributedData); ok {
		src = &globalBatches{src: dd.src, n: dd.n}
	}
	if err := norm.ResetBatchNormWeights(t.backend, t.store); err != nil {
		return err
	}
	for phase := range 2 {
		if t.bnExecs[phase] == nil {
			exec, err := model.NewExec(t.backend, t.store, func(scope *model.Scope, x *graph.Node) *graph.Node {
				g := x.Graph()
				scope.Store().SetTraining(g, false)
				scope.SetGraphParam(g, train.BatchNormalizationUpdatePhase, phase)
				return t.forward(scope, nil, []*graph.Node{x})[0]
			})
			if err != nil {
				return err
			}
			t.bnExecs[phase] = exec
		}
		n := 0
		for b, err := range (&firstBatches{src: src, n: t.cfg.RecalibrateBN}).Iter() {
			if err != nil {
				return fmt.Errorf("phase %d: %w", phase, err)
			}
			out, err := t.bnExecs[phase].Exec(b.Inputs[0])
			b.Finalize()
			if err != nil {
				return fmt.Errorf("phase %d: %w", phase, err)
			}
			for _, o := range out {
				o.MustFinalizeAll()
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("phase %d: the training data yielded no batches", phase)
		}
	}
	return nil
}

// globalBatches joins every n consecutive per-device batches of src into one batch on the host: the
// global batch a data-parallel step trains on, for the single-device graphs that read whole batches.
type globalBatches struct {
	src train.Dataset
	n   int
}

func (g *globalBatches) Name() string { return g.src.Name() }

func (g *globalBatches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		var group []train.Batch
		for b, err := range g.src.Iter() {
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			group = append(group, b)
			if len(group) < g.n {
				continue
			}
			joined, err := joinBatches(group)
			for _, p := range group {
				p.Finalize()
			}
			group = group[:0]
			if !yield(joined, err) || err != nil {
				return
			}
		}
		for _, p := range group { // an incomplete group: a data-parallel epoch drops it too
			p.Finalize()
		}
	}
}

// joinBatches concatenates batches along their first axis, input by input and label by label.
func joinBatches(parts []train.Batch) (train.Batch, error) {
	join := func(k int, pick func(train.Batch) []*tensors.Tensor) (*tensors.Tensor, error) {
		first := pick(parts[0])[k]
		shape := first.Shape().Clone()
		shape.Dimensions[0] = 0
		for _, p := range parts {
			shape.Dimensions[0] += pick(p)[k].Shape().Dimensions[0]
		}
		out := tensors.FromShape(shape)
		var err error
		out.MutableBytes(func(dst []byte) {
			off := 0
			for _, p := range parts {
				if e := pick(p)[k].ConstBytes(func(src []byte) { off += copy(dst[off:], src) }); e != nil {
					err = e
				}
			}
		})
		return out, err
	}
	var out train.Batch
	for k := range parts[0].Inputs {
		x, err := join(k, func(b train.Batch) []*tensors.Tensor { return b.Inputs })
		if err != nil {
			return out, err
		}
		out.Inputs = append(out.Inputs, x)
	}
	for k := range parts[0].Labels {
		y, err := join(k, func(b train.Batch) []*tensors.Tensor { return b.Labels })
		if err != nil {
			return out, err
		}
		out.Labels = append(out.Labels, y)
	}
	return out, nil
}

// firstBatches yields the first n batches of a dataset.
type firstBatches struct {
	src train.Dataset
	n   int
}

func (f *firstBatches) Name() string { return f.src.Name() + " (first batches)" }

func (f *firstBatches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		i := 0
		for b, err := range f.src.Iter() {
			if i >= f.n || !yield(b, err) {
				if i >= f.n {
					b.Finalize()
				}
				return
			}
			i++
		}
	}
}

// learningRate reads the current learning rate variable.
func (t *Trainer) learningRate() float64 {
	v := t.store.Scope("/" + optimizer.Scope).GetVariable(optimizer.ParamLearningRate)
	if v == nil {
		return math.NaN()
	}
	val, err := v.Value()
	if err != nil {
		return math.NaN()
	}
	return tensorutil.Float64(val)
}

// checkpoint saves the model and state, and the history files.
func (t *Trainer) checkpoint() error {
	if t.saver == nil {
		return nil
	}
	if err := t.saver.save(t.st); err != nil {
		return err
	}
	return t.hist.Save(t.cfg.OutDir)
}

// Evaluate runs the model over a dataset and returns its mean loss, accuracy and confusion matrix.
func (t *Trainer) Evaluate(ds train.Dataset) (loss, acc float64, confusion [][]int64, err error) {
	res, err := t.gt.Eval(ds)
	if err != nil {
		return 0, 0, nil, err
	}
	loss, acc = t.evalFigures(res)
	return loss, acc, t.conf.read(t.store), nil
}

// evalFigures reads the test loss and accuracy from GoMLX's Eval results.
func (t *Trainer) evalFigures(res []*tensors.Tensor) (loss, acc float64) {
	return tensorutil.Float64(res[t.at.testLoss]), tensorutil.Float64(res[t.at.testAcc])
}
