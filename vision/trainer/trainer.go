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
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/internal/tensorutil"
	"github.com/gonbgpu/gonbgpu/vision/optim"
)

// ErrInterrupted is returned by Run when its context was cancelled (SIGTERM, Ctrl-C): a checkpoint was
// written first, and Run with Resume continues from it.
var ErrInterrupted = errors.New("training interrupted; a checkpoint was written, resume with --resume")

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
}

// Validate checks the config, with errors that name the bad value.
func (c *Config) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs must be ≥ 1, got %d", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("batch size must be ≥ 1, got %d", c.BatchSize)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("label smoothing must be in [0, 1), got %v", c.LabelSmoothing)
	case c.WarmupEpochs < 0:
		return fmt.Errorf("warm-up epochs must be ≥ 0, got %v", c.WarmupEpochs)
	}
	_, err := optim.New(c.optimConfig(1))
	return err
}

func (c *Config) optimConfig(stepsPerEpoch int) optim.Config {
	return optim.Config{Name: c.Optimizer, LR: c.LR, Momentum: c.Momentum, Nesterov: c.Nesterov,
		WeightDecay: c.WeightDecay, Schedule: c.Schedule, TotalSteps: c.Epochs * stepsPerEpoch,
		WarmupSteps: int(c.WarmupEpochs * float64(stepsPerEpoch))}
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
	Classes     []string
}

// Trainer runs training.
type Trainer struct {
	cfg     Config
	backend compute.Backend
	store   *model.Store
	gt      *train.Trainer
	data    Data
	conf    *confusionMetric

	trainLoss, trainAcc metric.Interface

	// Log receives the per-epoch lines and notices (default os.Stdout).
	Log io.Writer
	// Progress shows progress within an epoch (default AutoProgress()).
	Progress Progress
	// OnEpoch, if set, is called after each epoch with the history so far.
	OnEpoch func(h *History)

	hist  *History
	st    *state
	saver *saver
}

// New prepares a run. With cfg.Resume and a checkpoint in cfg.OutDir, the model, optimizer state and
// history continue from it.
func New(backend compute.Backend, cfg Config, modelFn ModelFn, data Data) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(data.Classes) < 2 {
		return nil, fmt.Errorf("need at least 2 classes, got %d", len(data.Classes))
	}
	if cfg.KeepCheckpoints == 0 {
		cfg.KeepCheckpoints = 2
	}
	t := &Trainer{cfg: cfg, backend: backend, store: model.NewStore(), data: data,
		Log: os.Stdout, Progress: AutoProgress(), conf: &confusionMetric{numClasses: len(data.Classes)}}
	// Seeded initialisation: the same seed gives the same initial weights, so runs can be compared and
	// an interrupted-then-resumed run equals an uninterrupted one.
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	t.store.SetParam(model.ParamInitialSeed, seed)
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
					return nil, fmt.Errorf("--resume: checkpoint %s trained %s on %s, not %s on %s",
						path, st.History.Model, st.History.Dataset, cfg.Model, cfg.Dataset)
				}
				if err := restore(t.store, path); err != nil {
					return nil, err
				}
				st.History.Config.Epochs = cfg.Epochs // more epochs may be asked for on resume
				t.st = st
				fmt.Fprintf(t.Log, "resuming from %s: %d epoch(s) done", path, st.EpochsDone)
				if st.Batch > 0 {
					fmt.Fprintf(t.Log, ", %d batch(es) into epoch %d", st.Batch, st.EpochsDone+1)
				}
				fmt.Fprintln(t.Log)
			}
		} else if names, _ := checkpoints(ckdir); len(names) > 0 {
			return nil, fmt.Errorf("%s already holds checkpoints: pass --resume to continue that run, or choose another --out", ckdir)
		}
		s, err := newSaver(t.store, ckdir, cfg.KeepCheckpoints)
		if err != nil {
			return nil, err
		}
		t.saver = s
	}
	t.hist = t.st.History

	steps := 0
	if s, ok := data.Train.(Sized); ok {
		steps = s.NumBatches()
	}
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
	wrapped := func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node {
		variablesAsParameters(scope.Store(), inputs[0].Graph())
		return []*graph.Node{modelFn(scope.In("model"), inputs[0])}
	}
	t.gt = train.NewTrainer(backend, t.store, wrapped, CrossEntropy(cfg.LabelSmoothing), opt,
		[]metric.Interface{t.trainLoss, t.trainAcc},
		[]metric.Interface{metric.NewSparseCategoricalAccuracy("Test Accuracy", "#acc"), t.conf})
	return t, nil
}

// Store returns the model's variables (for inspection, or to evaluate after training).
func (t *Trainer) Store() *model.Store { return t.store }

// History returns the history so far.
func (t *Trainer) History() *History { return t.hist }

// environment describes where this run happens.
func (t *Trainer) environment() Environment {
	host, _ := os.Hostname()
	e := Environment{Backend: t.backend.String(), Devices: t.backend.NumDevices(), Host: host,
		GoMaxPro: runtime.GOMAXPROCS(0), SLURM: slurmEnv(), Used: t.data.devices()}
	if c, err := gpu.Chosen(); err == nil && c.Name != "" {
		e.Backend, e.Reason = c.Name, c.Reason
	}
	if e.Devices > 0 {
		e.Device = t.backend.DeviceDescription(0)
	}
	if gpu.IsPureGo(t.backend) {
		e.Device = fmt.Sprintf("host CPU, %d cores", gpu.HostCores())
	}
	return e
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
				return h, gpu.ExplainOutOfMemory(fmt.Errorf("epoch %d, step %d: %w", epoch+1, done+1, err),
					fmt.Sprintf("training with batch size %d", t.cfg.BatchSize))
			}
			if h.CompileSeconds == 0 {
				_ = metrics[0].Value() // wait for the first step, to time compilation
				h.CompileSeconds = time.Since(stepStart).Seconds()
			}
			for _, m := range last {
				_ = m.FinalizeAll()
			}
			last = metrics
			done++
			images += n
			loss := -1.0
			if done%20 == 0 || done == steps {
				loss = tensorutil.Float64(metrics[2]) // epoch mean loss so far; reading it waits for the step
			}
			if t.cfg.LogEvery > 0 && done%t.cfg.LogEvery == 0 {
				h.Steps = append(h.Steps, StepRecord{Step: epoch*steps + done, Epoch: float64(epoch) + float64(done)/float64(steps),
					Loss: tensorutil.Float64(metrics[0]), Accuracy: tensorutil.Float64(metrics[3])})
			}
			t.Progress.Step(done, loss)
			if ctx.Err() != nil && done < steps {
				interrupted = true
				break
			}
		}
		t.Progress.Done()
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
			TrainLoss: tensorutil.Float64(last[2]), TrainAcc: tensorutil.Float64(last[3]), Interrupted: resumedAt > 0}
		if elapsed > 0 {
			rec.ImagesPerSec = float64(images) / elapsed
		}
		rec.LR = t.learningRate()
		evalStart := time.Now()
		if err := t.recalibrateBN(); err != nil {
			return h, fmt.Errorf("epoch %d: re-estimating batch-norm averages: %w", epoch+1, err)
		}
		res, err := t.gt.Eval(t.data.Test)
		if err != nil {
			return h, fmt.Errorf("epoch %d: evaluation: %w", epoch+1, err)
		}
		rec.EvalSeconds = time.Since(evalStart).Seconds()
		rec.TestLoss, rec.TestAcc = tensorutil.Float64(res[0]), tensorutil.Float64(res[1])
		h.Confusion = t.conf.read(t.store)
		rec.FinishedAt = time.Now()
		h.Epochs = append(h.Epochs, rec)
		t.st.EpochsDone, t.st.Batch, t.st.PartialSeconds, t.st.PartialImages = epoch+1, 0, 0, 0
		if h.Parameters == 0 {
			h.Parameters = t.store.RootScope().In("model").NumParameters()
		}
		if err := t.checkpoint(); err != nil {
			return h, err
		}
		if len(h.Epochs) == 1 || resumedAt > 0 {
			fmt.Fprintf(t.Log, "%5s %9s %9s %10s %9s %9s %9s %9s\n", "epoch", "seconds", "img/s", "train_loss", "train_acc", "test_loss", "test_acc", "lr")
		}
		fmt.Fprintln(t.Log, rec.Line())
		if t.OnEpoch != nil {
			t.OnEpoch(h)
		}
	}
	return h, nil
}

// recalibrateBN re-estimates the batch-norm averages from the first Config.RecalibrateBN training batches
// (GoMLX's norm.UpdateBatchNormAverages; single-device data only).
func (t *Trainer) recalibrateBN() error {
	if t.cfg.RecalibrateBN <= 0 {
		return nil
	}
	if _, ok := t.data.Train.(train.DistributedDataset); ok {
		return nil
	}
	_, err := norm.UpdateBatchNormAverages(t.gt, &firstBatches{src: t.data.Train, n: t.cfg.RecalibrateBN})
	return err
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
	if _, err := t.saver.save(t.st); err != nil {
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
	return tensorutil.Float64(res[0]), tensorutil.Float64(res[1]), t.conf.read(t.store), nil
}
