// Package recipe turns a few choices — a dataset, a model, hyperparameters — into a ready training run:
// it loads and splits the data, picks augmentation and normalisation, plans the devices, builds the
// model and the trainer. `gonbgpu train` and the notebooks both start runs through it, so a notebook
// experiment and an sbatch job with the same options train the same thing.
package recipe

import (
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
	"github.com/gonbgpu/gonbgpu/vision/augment"
	"github.com/gonbgpu/gonbgpu/vision/data"
	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
	"github.com/gonbgpu/gonbgpu/vision/gradnorm"
	"github.com/gonbgpu/gonbgpu/vision/optim"
	"github.com/gonbgpu/gonbgpu/vision/parallel"
	"github.com/gonbgpu/gonbgpu/vision/pretrained"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// Datasets lists the dataset names a recipe accepts.
var Datasets = []string{"fashion-mnist", "cifar10", "folder"}

// Options describe a training run. Zero values take the defaults of [Defaults]; the model's depends on
// the platform (resnet.DefaultModel), the optimizer's settings on the optimizer ([OptimizerDefaults]).
type Options struct {
	// Dataset is "fashion-mnist", "cifar10" or "folder".
	Dataset string
	// Data is the dataset folder. Fashion-MNIST defaults to Debian's dataset-fashion-mnist, then a
	// download; CIFAR-10 (its binary batches) and folders (one sub-folder per class) need it.
	Data string
	// Datasets says where the catalog's datasets folder is and where download progress goes, for
	// Fashion-MNIST and CIFAR-10 without Data. The zero value is the catalog's default (gonbgpu's
	// datasets cache, downloads silent). The user's $GONBGPU_DATA is the caller's to read, once, at
	// the edge: `gonbgpu train` and the chapters' cells pass catalog.FromEnvironment().
	Datasets catalog.Options
	// ImageSize is the side images of a folder are resized to.
	ImageSize int
	// ValFraction of a folder's images are held out for testing.
	ValFraction float64
	// Holdout, when positive, is the fraction of the training images (per class) held out as a validation
	// split: each epoch is evaluated on it instead of the test set, the run keeps the weights of its best
	// epoch there, and evaluates the test set once, with those (trainer.Data.Val, History.Selected).
	// 0 (the default): no validation split; the test set is evaluated after every epoch.
	Holdout float64
	// SkipBad skips unreadable images of a folder, reporting them, instead of failing.
	SkipBad bool
	// LimitTrain and LimitTest, when positive, use only that many images (the first ones): CPU-sized
	// runs, quick checks.
	LimitTrain, LimitTest int

	// Model is a name from resnet.Models().
	Model string
	// Width multiplies every layer's channels.
	Width float64
	// Plain drops the skip connections (the vanishing-gradient twin).
	Plain bool
	// Precision is "fp32" or "bf16": mixed precision, convolutions in bfloat16 with float32
	// weights, batch norm and loss. It needs an XLA backend (xla:cpu or xla:cuda): on the pure-Go backend bf16
	// is far slower.
	Precision string

	Epochs int
	// Batch is the global batch size, split over the devices.
	Batch int
	// Optimizer is "sgd" (with Nesterov momentum and weight decay) or "adam".
	Optimizer string
	// LR is the peak learning rate.
	LR float64
	// Momentum and WeightDecay override the optimizer's defaults when positive; NoWeightDecay sets 0.
	Momentum, WeightDecay float64
	NoWeightDecay         bool
	// Schedule is "onecycle", "cosine" or "constant".
	Schedule string
	// LabelSmoothing, e.g. 0.1.
	LabelSmoothing float64
	// NoAugment turns training augmentation off (default: random crop with padding, horizontal flips).
	NoAugment bool

	// Devices is the number of devices to train on, data-parallel (0: all of the backend's): GPUs on
	// xla:cuda, XLA's CPU devices on xla:cpu, the one host CPU on the pure-Go backend.
	Devices int
	Seed    int64

	// Out is where history and checkpoints go (empty: nowhere); Resume continues from its checkpoint.
	Out    string
	Resume bool
	// LogEvery records the batch loss every LogEvery steps in the history (0: off).
	LogEvery int

	// Pretrained is an ONNX file of a torchvision ResNet-18/34/50 (see package vision/pretrained) to
	// fine-tune instead of training from scratch. The model comes from the file (Model, when set, must
	// match it), with a new classifier for the dataset's classes and ImageNet's normalisation.
	Pretrained string
	// InitFrom is the output folder (Out) of another run (the source task) whose newest checkpoint's weights this
	// run starts from, with a new classifier for this dataset's classes: transfer learning from a model you
	// trained yourself. The model (Model, Width, Plain) must be the source run's; a resumed run continues
	// from its own checkpoint instead.
	InitFrom string
	// FreezeBackbone trains only the new classifier of a pretrained model (Pretrained or InitFrom).
	FreezeBackbone bool
	// HeadLRScale multiplies Options.LR for the new classifier of a pretrained model (Pretrained or
	// InitFrom), SGD only: the head starts from random weights and has everything to learn, while the
	// backbone should only adapt (e.g. 10). 0: the default, 1 (one rate for every layer).
	HeadLRScale float64
	// PretrainedSize is the side images are resized to inside a pretrained model (0: the size the file
	// was exported with, usually 224; smaller is faster on a CPU).
	PretrainedSize int
	// FromScratch, with Pretrained, trains the same network (architecture, input size, normalisation)
	// from random weights: the baseline a fine-tuning is compared with.
	FromScratch bool
}

// Run is a prepared training run.
type Run struct {
	Options Options
	Train   *data.Set
	Test    *data.Set
	// Val is the validation split held out from the training images (Options.Holdout), nil without one.
	Val      *data.Set
	Parallel *parallel.Plan
	Trainer  *trainer.Trainer
	// Model builds the network being trained.
	Model *resnet.Builder
	// Pretrained is the imported model, when Options.Pretrained is set.
	Pretrained *pretrained.Model
	// TrainLoader and TestLoader serve the (normalised) images, one device's batch at a time.
	TrainLoader, TestLoader *data.Loader
	// ValLoader serves Val (nil without a validation split).
	ValLoader *data.Loader
	// Platform is where the run computes, as Prepare was given it.
	Platform *platform.Choice
	// Lines describe what was prepared, for printing before training starts.
	Lines []string
}

// Prepare loads the data and builds everything a run needs on the backend of c: gpu.Default() (or
// gpu.MustDefault() in a cell), or platform.Of(b) for a backend made by other means. Every error names
// the option, file or value at fault.
func Prepare(c *platform.Choice, o Options) (*Run, error) {
	if c == nil || c.Backend == nil {
		return nil, fmt.Errorf("recipe.Prepare: no backend (pass gpu.Default()'s choice, or platform.Of(backend))")
	}
	b := c.Backend
	if err := o.defaults(c); err != nil {
		return nil, err
	}
	r := &Run{Options: o, Platform: c}
	// The devices and the memory a training step needs are checked before any data is read: a size that
	// cannot fit fails at once, with the figure, instead of after minutes of loading or in the runtime's
	// fatal out-of-memory.
	p, err := parallel.New(c, o.Devices, o.Batch)
	if err != nil {
		return nil, err
	}
	if err := checkStepMemory(c, o, p.PerDevice); err != nil {
		return nil, err
	}
	trainSet, testSet, how, err := load(o)
	if err != nil {
		return nil, err
	}
	if o.LimitTrain > 0 && o.LimitTrain < trainSet.N {
		trainSet = data.Subset(trainSet, o.LimitTrain)
	}
	if o.LimitTest > 0 && o.LimitTest < testSet.N {
		testSet = data.Subset(testSet, o.LimitTest)
	}
	if err := checkSplit(o, trainSet, testSet); err != nil {
		return nil, err
	}
	var valSet *data.Set
	if o.Holdout > 0 {
		all := trainSet
		valSet, trainSet = data.Split(all, o.Holdout, o.Seed)
		valSet.Name, trainSet.Name = all.Name+"-holdout", all.Name
		if valSet.N == 0 || trainSet.N == 0 {
			return nil, fmt.Errorf("Options.Holdout %v of the %d training images leaves %d for validation and %d for training "+
				"(rounded per class): both need images", o.Holdout, all.N, valSet.N, trainSet.N)
		}
	}
	r.Train, r.Test, r.Val = trainSet, testSet, valSet
	if valSet != nil {
		r.Lines = append(r.Lines, fmt.Sprintf("data:     %s, %d training, %d validation and %d test images of %d×%d×%d, %d classes (%s; validation: %.0f%% of the training images, held out)",
			o.Dataset, trainSet.N, valSet.N, testSet.N, trainSet.H, trainSet.W, trainSet.C, len(trainSet.Classes), how, 100*o.Holdout))
	} else {
		r.Lines = append(r.Lines, fmt.Sprintf("data:     %s, %d training and %d test images of %d×%d×%d, %d classes (%s)",
			o.Dataset, trainSet.N, testSet.N, trainSet.H, trainSet.W, trainSet.C, len(trainSet.Classes), how))
	}

	r.Parallel = p
	r.Lines = append(r.Lines, fmt.Sprintf("devices:  %d × %s (%s), batch %d (%d per device): %s",
		p.N(), c.DeviceDescription(), c.Name, p.GlobalBatch, p.PerDevice, p.Why))

	mean, std := trainSet.MeanStd()
	var pm *pretrained.Model
	if o.Pretrained != "" {
		pm, err = pretrained.Load(o.Pretrained, pretrained.Options{Model: o.Model, NumClasses: len(trainSet.Classes),
			Channels: trainSet.C, InputSize: o.PretrainedSize, FreezeBackbone: o.FreezeBackbone})
		if err != nil {
			return nil, fmt.Errorf("Options.Pretrained with %s's %d-channel images: %w", imagesOf(o), trainSet.C, err)
		}
		r.Pretrained, o.Model, r.Options.Model = pm, pm.Model, pm.Model
		mean, std = pm.Mean, pm.Std // the normalisation the weights were trained with
		if o.FromScratch {
			pm.Builder.FrozenBatchNorm(false) // random weights: ordinary batch norms
			r.Lines = append(r.Lines, fmt.Sprintf("model:    %s's network from scratch (random weights), images resized to %d×%d in the model, ImageNet normalisation",
				o.Pretrained, pm.Options.InputSize, pm.Options.InputSize))
		} else {
			r.Lines = append(r.Lines, fmt.Sprintf("pretrained: %s; new %d-class head, images resized to %d×%d in the model, ImageNet normalisation%s",
				pm.Weights, len(trainSet.Classes), pm.Options.InputSize, pm.Options.InputSize, map[bool]string{true: ", backbone frozen"}[o.FreezeBackbone]))
		}
	}
	var aug *augment.Pipeline
	if !o.NoAugment {
		aug = Augmentation(trainSet.H)
	}
	trainLoader, err := data.NewLoader(trainSet, data.LoaderOptions{BatchSize: p.PerDevice, Shuffle: true, Seed: o.Seed,
		DropLast: p.Distributed() || trainSet.N%p.PerDevice == 1, Augment: aug, Mean: mean, Std: std, Name: trainSet.Name})
	if err != nil {
		return nil, err
	}
	testLoader, err := data.NewLoader(testSet, data.LoaderOptions{BatchSize: p.PerDevice, Mean: mean, Std: std, Name: testSet.Name})
	if err != nil {
		return nil, err
	}
	if trainLoader.NumBatches()/p.N() == 0 {
		return nil, fmt.Errorf("Options.Batch %d is more than the %d training images can fill (%d per device, the last partial batch "+
			"dropped): lower Options.Batch", o.Batch, trainSet.N, p.PerDevice)
	}
	r.TrainLoader, r.TestLoader = trainLoader, testLoader
	td := trainer.Data{Train: trainLoader, Test: testLoader, Classes: trainSet.Classes}
	if valSet != nil {
		if r.ValLoader, err = data.NewLoader(valSet, data.LoaderOptions{BatchSize: p.PerDevice, Mean: mean, Std: std, Name: valSet.Name}); err != nil {
			return nil, err
		}
		td.Val = r.ValLoader
	}
	d, err := trainer.Distribute(b, td, p)
	if err != nil {
		return nil, err
	}
	augText := "none"
	if aug != nil {
		augText = aug.String()
	}
	headLR := ""
	if o.HeadLRScale != 1 {
		headLR = fmt.Sprintf(", new head lr %.3g (×%g)", o.LR*o.HeadLRScale, o.HeadLRScale)
	}
	r.Lines = append(r.Lines, fmt.Sprintf("training: %s, %d epochs, %s lr %.3g (%s)%s, augmentation: %s",
		modelName(o), o.Epochs, o.Optimizer, o.LR, o.Schedule, headLR, augText))

	mb := resnet.New(o.Model).Width(o.Width).Plain(o.Plain).NumClasses(len(trainSet.Classes))
	if pm != nil {
		mb = pm.Builder
	}
	if o.Precision == "bf16" {
		mb = mb.ComputeDType(dtypes.BFloat16)
	}
	var src *initSource
	if o.InitFrom != "" {
		mb = mb.FreezeBackbone(o.FreezeBackbone)
		if src, err = loadInitFrom(b, o, mb, trainSet.H, trainSet.W, trainSet.C); err != nil {
			return nil, err
		}
		r.Lines = append(r.Lines, fmt.Sprintf("init:     %s's weights (%s, %s); new %d-class head%s",
			o.InitFrom, src.model, filepath.Base(src.ckpt), len(trainSet.Classes), map[bool]string{true: ", backbone frozen"}[o.FreezeBackbone]))
	}
	if err := mb.Validate(); err != nil {
		return nil, err
	}
	r.Model = mb
	// Short epochs (CPU-sized runs) re-estimate batch-norm averages before evaluating; see
	// trainer.Config.RecalibrateBN. Long epochs leave the moving averages enough steps to settle.
	recalibrate := 0
	if steps := trainLoader.NumBatches() / p.N(); steps < 200 {
		recalibrate = min(steps, 20)
	}
	cfg := trainer.Config{RecalibrateBN: recalibrate, Model: modelName(o), Dataset: o.Dataset, Epochs: o.Epochs, BatchSize: o.Batch,
		Optimizer: o.Optimizer, LR: o.LR, Momentum: o.Momentum, WeightDecay: o.WeightDecay,
		Nesterov: o.Optimizer == "sgd" && o.Momentum > 0, Schedule: optim.Schedule(o.Schedule),
		LabelSmoothing: o.LabelSmoothing, Seed: o.Seed, OutDir: o.Out, Resume: o.Resume, LogEvery: o.LogEvery,
		DataOrder: dataOrder(o, trainSet)}
	if o.HeadLRScale != 1 {
		cfg.LRScales = []optim.Scale{{Prefix: headPrefix, Factor: o.HeadLRScale}}
	}
	t, err := trainer.New(c, cfg, mb.ModelFn(), d)
	if err != nil {
		return nil, &renamedError{InOptions(err.Error()), err}
	}
	r.Trainer = t
	if pm != nil && !o.FromScratch && !resumed(t.Store()) {
		if err := pm.Apply(t.Store().Scope("/model")); err != nil {
			return nil, err
		}
	}
	if src != nil && !resumed(t.Store()) {
		if err := src.apply(t.Store()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// resumed reports whether the store was restored from a checkpoint: checkpoints load lazily, and
// Store.GetVariable asks the checkpoint for a variable every model has.
func resumed(store *model.Store) bool {
	return store.GetVariable("/model/stem/conv/weights") != nil
}

// SampleBatch returns the first test batch, normalised as the model sees it: a fixed batch on which to
// compare the model before and after training.
func (r *Run) SampleBatch() (images, labels *tensors.Tensor, err error) {
	for b, err := range r.TestLoader.Iter() {
		if err != nil {
			return nil, nil, err
		}
		return b.Inputs[0], b.Labels[0], nil
	}
	return nil, nil, fmt.Errorf("the test set is empty")
}

// GradientNorms measures the per-layer gradient norms of the model, as it stands in the trainer (before
// the first step: at initialisation), on the sample batch. See package gradnorm.
func (r *Run) GradientNorms() ([]gradnorm.Layer, error) {
	images, labels, err := r.SampleBatch()
	if err != nil {
		return nil, err
	}
	return gradnorm.Measure(r.Platform.Backend, r.Trainer.Store(), "model", r.Model.ModelFn(), images, labels)
}

// modelName is the model's full name, e.g. "resnet20-plain-w0.5".
func modelName(o Options) string {
	n := o.Model
	if o.Pretrained != "" && o.FromScratch {
		n += "-imagenet-scratch"
	} else if o.Pretrained != "" {
		n += "-pretrained"
		if o.FreezeBackbone {
			n += "-frozen"
		}
	}
	if o.Plain {
		n += "-plain"
	}
	if o.Width != 1 {
		n += fmt.Sprintf("-w%g", o.Width)
	}
	if o.Precision == "bf16" {
		n += "-bf16"
	}
	if o.InitFrom != "" {
		n += "-finetuned"
		if o.FreezeBackbone {
			n += "-frozen"
		}
	}
	return n
}

// maxLR bounds Options.LR: no schedule of these models trains above it (the default for SGD, 0.1×batch/128,
// reaches it only at a batch of 128000), so a larger value is a typo or an experiment in divergence.
const maxLR = 100

// checkFloats checks every floating-point option for finiteness and range before defaults are filled in
// (0 means "default" for most of them). Errors name the flag.
func (o *Options) checkFloats() error {
	for _, f := range []struct {
		flag     string
		v        float64
		lo, hi   float64
		loIn     bool // lo is allowed
		hiIn     bool // hi is allowed
		whyRange string
	}{
		{"Options.LR", o.LR, 0, maxLR, true, true, "0 for the optimizer's default"},
		{"Options.Momentum", o.Momentum, 0, 1, true, false, "0 for the optimizer's default; 1 and above never converge"},
		{"Options.WeightDecay", o.WeightDecay, 0, 1, true, false, "0 for the optimizer's default"},
		{"Options.LabelSmoothing", o.LabelSmoothing, 0, 1, true, false, "0 for none"},
		{"Options.ValFraction", o.ValFraction, 0, 1, true, false, fmt.Sprintf("the fraction of a folder's images held out; 0 for the default %g", Defaults().ValFraction)},
		{"Options.Holdout", o.Holdout, 0, 1, true, false, "the fraction of the training images held out for validation; 0 for none"},
		{"Options.HeadLRScale", o.HeadLRScale, 0, maxLR, true, true, fmt.Sprintf("the new head's learning rate over Options.LR; 0 for the default %g", Defaults().HeadLRScale)},
		{"Options.Width", o.Width, 0, math.Inf(1), true, false, fmt.Sprintf("the multiplier of every layer's channels; 0 for the default %g", Defaults().Width)},
	} {
		bad := math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < f.lo || f.v > f.hi || (!f.loIn && f.v == f.lo) || (!f.hiIn && f.v == f.hi)
		if bad {
			lb, rb := "(", ")"
			if f.loIn {
				lb = "["
			}
			if f.hiIn {
				rb = "]"
			}
			hi := fmt.Sprint(f.hi)
			if math.IsInf(f.hi, 1) {
				hi = "∞"
			}
			return fmt.Errorf("%s must be a finite number in %s%g, %s%s (%s), got %v", f.flag, lb, f.lo, hi, rb, f.whyRange, f.v)
		}
	}
	return nil
}

// defaults fills in zero values and checks the rest.
func (o *Options) defaults(c *platform.Choice) error {
	if err := o.checkFloats(); err != nil {
		return err
	}
	d := Defaults()
	o.Dataset = strings.ToLower(o.Dataset)
	orDefault(&o.Dataset, d.Dataset)
	if o.Dataset == "fashionmnist" || o.Dataset == "fashion_mnist" {
		o.Dataset = "fashion-mnist"
	}
	if o.Dataset == "cifar-10" {
		o.Dataset = "cifar10"
	}
	valid := false
	for _, d := range Datasets {
		valid = valid || d == o.Dataset
	}
	if !valid {
		return fmt.Errorf("unknown dataset %q: want one of %v", o.Dataset, Datasets)
	}
	if o.Pretrained == "" && (o.PretrainedSize != 0 || o.FromScratch) {
		return fmt.Errorf("Options.PretrainedSize and Options.FromScratch need Options.Pretrained FILE.onnx")
	}
	if o.FreezeBackbone && o.Pretrained == "" && o.InitFrom == "" {
		return fmt.Errorf("Options.FreezeBackbone trains only a new head on pretrained weights: it needs Options.Pretrained FILE.onnx or Options.InitFrom RUN_DIR")
	}
	if o.InitFrom != "" && o.Pretrained != "" {
		return fmt.Errorf("Options.InitFrom %s and Options.Pretrained %s both give the starting weights: choose one", o.InitFrom, o.Pretrained)
	}
	if o.InitFrom != "" && o.Out != "" && sameFolder(o.InitFrom, o.Out) {
		return fmt.Errorf("Options.InitFrom %s is also Options.Out: the new run would replace the checkpoints it starts from; give another Options.Out", o.InitFrom)
	}
	if o.FromScratch && o.FreezeBackbone {
		return fmt.Errorf("Options.FromScratch trains every layer: it does not go with Options.FreezeBackbone")
	}
	if o.Pretrained != "" && (o.Width != 0 && o.Width != 1 || o.Plain) {
		return fmt.Errorf("Options.Width and Options.Plain do not apply to Options.Pretrained %s: the architecture comes from the file", o.Pretrained)
	}
	if o.PretrainedSize < 0 {
		return fmt.Errorf("Options.PretrainedSize must be positive, got %d", o.PretrainedSize)
	}
	if o.Model == "" && o.Pretrained == "" {
		o.Model = resnet.DefaultModel(c.Backend)
	}
	if o.Model != "" && !resnet.IsValidModel(o.Model) {
		return fmt.Errorf("unknown model %q: want one of %v", o.Model, resnet.Models())
	}
	orDefault(&o.Width, d.Width)
	orDefault(&o.Precision, d.Precision)
	switch o.Precision = strings.ToLower(o.Precision); o.Precision {
	case "fp32", "float32":
		o.Precision = "fp32"
	case "bf16", "bfloat16":
		o.Precision = "bf16"
		if c.PureGo() {
			return fmt.Errorf("bf16 precision needs the XLA backend (xla:cpu or a GPU): on the pure-Go backend bfloat16 matrix products are 20 to 70 times slower than float32")
		}
	default:
		return fmt.Errorf("unknown precision %q: want fp32 or bf16", o.Precision)
	}
	orDefault(&o.Epochs, d.Epochs)
	orDefault(&o.Batch, d.Batch)
	for _, f := range []struct {
		name string
		v    int
	}{{"epochs", o.Epochs}, {"batch size", o.Batch}, {"training image limit", o.LimitTrain},
		{"test image limit", o.LimitTest}, {"number of devices", o.Devices}} {
		if f.v < 0 {
			return fmt.Errorf("the %s must not be negative, got %d", f.name, f.v)
		}
	}
	o.Optimizer = strings.ToLower(o.Optimizer)
	orDefault(&o.Optimizer, d.Optimizer)
	lr, momentum, weightDecay, known := OptimizerDefaults(o.Optimizer, o.Batch)
	if !known {
		return fmt.Errorf("unknown optimizer %q: want sgd or adam", o.Optimizer)
	}
	orDefault(&o.LR, lr)
	orDefault(&o.Momentum, momentum)
	orDefault(&o.WeightDecay, weightDecay)
	if o.NoWeightDecay {
		o.WeightDecay = 0
	}
	orDefault(&o.Schedule, d.Schedule)
	orDefault(&o.HeadLRScale, d.HeadLRScale)
	if o.HeadLRScale != 1 && o.Pretrained == "" && o.InitFrom == "" {
		return fmt.Errorf("Options.HeadLRScale %g gives a new head on pretrained weights its own learning rate: it needs Options.Pretrained FILE.onnx or Options.InitFrom RUN_DIR", o.HeadLRScale)
	}
	if o.HeadLRScale != 1 && o.Optimizer != "sgd" {
		return fmt.Errorf("Options.HeadLRScale %g needs Options.Optimizer sgd, got %s (Adam's steps do not scale with the gradient)", o.HeadLRScale, o.Optimizer)
	}
	if _, err := optim.ParseSchedule(o.Schedule); err != nil {
		return err
	}
	orDefault(&o.ImageSize, d.ImageSize)
	if o.ImageSize < 0 {
		return fmt.Errorf("Options.ImageSize must be positive, got %d", o.ImageSize)
	}
	orDefault(&o.ValFraction, d.ValFraction)
	if !(o.ValFraction > 0 && o.ValFraction < 1) {
		return fmt.Errorf("Options.ValFraction must be in (0, 1), got %v", o.ValFraction)
	}
	orDefault(&o.Seed, d.Seed)
	if o.Resume && o.Out == "" {
		return fmt.Errorf("Options.Resume needs Options.Out: the folder whose checkpoint to continue from")
	}
	return nil
}

// load reads the dataset's train and test sets, and says where they came from. The catalog's datasets
// are located there, the one place: Options.Data, else the datasets folder (Options.Datasets), else
// Debian's copy, else (Fashion-MNIST only) a verified download.
func load(o Options) (train, test *data.Set, how string, err error) {
	switch o.Dataset {
	case "fashion-mnist", "cifar10":
		return data.Load(o.Dataset, o.Data, o.Datasets)
	default: // folder
		if o.Data == "" {
			return nil, nil, "", fmt.Errorf("Options.Dataset \"folder\" needs Options.Data DIR: a folder with one sub-folder of images per class")
		}
		all, report, err := data.Folder(o.Data, data.FolderOptions{Size: o.ImageSize, SkipBad: o.SkipBad})
		if err != nil {
			return nil, nil, "", err
		}
		how = "from " + o.Data
		if report != nil && len(report.Skipped) > 0 {
			how += fmt.Sprintf(", %d unreadable image(s) skipped", len(report.Skipped))
		}
		if report != nil && len(report.Special) > 0 {
			kind, _, _ := strings.Cut(report.Special[0].Reason, ",")
			eg := ""
			if len(report.Special) > 1 {
				eg = "e.g. "
			}
			how += fmt.Sprintf(", %d special file(s) not read (%s%s: %s)", len(report.Special), eg, report.Special[0].Path, kind)
		}
		test, train = data.Split(all, o.ValFraction, o.Seed)
		train.Name, test.Name = all.Name+"-train", all.Name+"-val"
		return train, test, how + fmt.Sprintf(", %.0f%% held out for testing", 100*o.ValFraction), nil
	}
}

// Augmentation is the training augmentation for images of the given size: a random crop after zero
// padding (an eighth of the side, as the usual 4 pixels of 32) and horizontal flips, which change
// neither a garment's nor an object's class.
func Augmentation(size int) *augment.Pipeline {
	return augment.New().Crop(max(1, size/8)).Flip(0.5)
}

// imageShape is the size of the images the model sees, known before the data is read.
func imageShape(o Options) (h, w, c int) {
	switch o.Dataset {
	case "fashion-mnist":
		return 28, 28, 1
	case "cifar10":
		return 32, 32, 3
	}
	// A folder's images have 1 channel when all are grey, else 3 (data.Folder), which only reading
	// them tells: 1 keeps the estimate a lower bound.
	return o.ImageSize, o.ImageSize, 1
}

// imagesOf names where the run's images come from, for errors about them: the dataset, and its folder
// when there is one.
func imagesOf(o Options) string {
	if o.Data == "" {
		return o.Dataset
	}
	return fmt.Sprintf("%s (%s)", o.Dataset, o.Data)
}

// checkStepMemory refuses a run whose training step cannot fit: the model's parameters (with their
// gradients and the optimizer's state) and the activations of a per-device batch on the device that
// computes (the host for the pure-Go backend), and the input batches the loader prepares on the host.
// The figures are lower bounds (resnet.Footprint), so only runs that cannot possibly fit are refused.
func checkStepMemory(plat *platform.Choice, o Options, perDevice int) error {
	h, w, c := imageShape(o)
	fp := footprintBuilder(o).Footprint(h, w, c)
	copies := int64(3) // weights, gradients, SGD momentum
	if o.Optimizer == "adam" {
		copies = 4
	}
	params := memlimit.Mul(fp.Params, 4, copies)
	acts := memlimit.Mul(fp.Activations, int64(perDevice), 4)
	inputs := memlimit.Mul(int64(h), int64(w), int64(c), int64(perDevice), 4, 2) // the batch trained on and the next
	what := fmt.Sprintf("%s (width %g) on %d×%d×%d images", o.Model, o.Width, h, w, c)
	if o.Dataset == "folder" {
		what = fmt.Sprintf("Options.ImageSize %d with %s (width %g)", o.ImageSize, o.Model, o.Width)
	}
	what += fmt.Sprintf(" at Options.Batch %d", o.Batch)
	if perDevice != o.Batch {
		what += fmt.Sprintf(" (%d per device)", perDevice)
	}
	detail := fmt.Sprintf("%s for the parameters, %s for the activations", memlimit.Format(params), memlimit.Format(acts))
	const hint = "lower Options.Batch, Options.Width or Options.ImageSize, or choose a smaller Options.Model"
	total := sat(sat(params, acts), inputs)
	if plat.PureGo() || platform.IsXLACPU(plat.Backend) {
		// The CPU backends keep everything in the host's memory: every CPU device its own copy of the
		// parameters and its share of the activations.
		if n := int64(max(1, o.Batch/max(1, perDevice))); n > 1 {
			total = sat(sat(memlimit.Mul(params, n), memlimit.Mul(acts, n)), inputs)
		}
		if host := memlimit.Available(); host.Known() && total > host.Bytes {
			return fmt.Errorf("training %s needs at least %s of memory (%s), more than the %s this process may use: %s",
				what, memlimit.Format(total), detail, host, hint)
		}
		return nil
	}
	if host := memlimit.Available(); host.Known() && inputs > host.Bytes {
		return fmt.Errorf("the input batches of %s need at least %s of host memory, more than the %s this process may use: %s",
			what, memlimit.Format(inputs), host, hint)
	}
	for _, d := range plat.ComputeDevices() {
		if need := sat(params, acts); d.Kind == platform.GPU && d.MemoryFree > 0 && uint64(need) > d.MemoryFree {
			return fmt.Errorf("training %s needs at least %s of memory on each GPU (%s), more than the %s free on GPU %d (%s): %s",
				what, memlimit.Format(need), detail, memlimit.Format(int64(min(d.MemoryFree, 1<<62))), d.Index, d.Name, hint)
		}
	}
	return nil
}

// footprintBuilder is the network whose footprint checkStepMemory weighs, before any file is read. A
// pretrained run's network is torchvision's (a stride-4 stem, the input resized inside the model, the
// backbone maybe frozen), far lighter at a given image size than the small-stem net of the same name; its
// depth, when not given, is at least ResNet-18's, and the size the file was exported with is not known yet,
// so without Options.PretrainedSize only the parameters count: the figure stays a lower bound.
func footprintBuilder(o Options) *resnet.Builder {
	if o.Pretrained == "" {
		return resnet.New(o.Model).Width(o.Width).Plain(o.Plain)
	}
	model := o.Model
	if model == "" {
		model = "resnet18"
	}
	size := o.PretrainedSize
	if size <= 0 {
		size = 1
	}
	return resnet.New(model).ImageNetStem(true).InputSize(size).FreezeBackbone(o.FreezeBackbone)
}

// sat adds sizes, saturating.
func sat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// dataOrder lists what the order and content of the training batches depend on, besides the batch size
// and the seed the trainer records itself: a resumed run must match each (see trainer.Config.DataOrder).
// The last entry identifies the training set itself (count, size, labels), for what the flags cannot
// say: Options.Data pointing at other files.
func dataOrder(o Options, train *data.Set) []trainer.Setting {
	s := []trainer.Setting{
		{Name: "Options.Dataset", Value: o.Dataset},
		{Name: "Options.LimitTrain", Value: fmt.Sprint(o.LimitTrain)},
		{Name: "Options.LimitTest", Value: fmt.Sprint(o.LimitTest)},
		{Name: "Options.NoAugment", Value: fmt.Sprint(o.NoAugment)},
	}
	if o.Holdout > 0 { // recorded only when set: runs from before Holdout existed resume as they were
		s = append(s, trainer.Setting{Name: "Options.Holdout", Value: fmt.Sprint(o.Holdout)})
	}
	if o.Dataset == "folder" {
		s = append(s, trainer.Setting{Name: "Options.ImageSize", Value: fmt.Sprint(o.ImageSize)},
			trainer.Setting{Name: "Options.ValFraction", Value: fmt.Sprint(o.ValFraction)},
			trainer.Setting{Name: "Options.SkipBad", Value: fmt.Sprint(o.SkipBad)})
	}
	labels := crc32.NewIEEE()
	for _, l := range train.Labels {
		labels.Write([]byte{byte(l), byte(l >> 8), byte(l >> 16), byte(l >> 24)})
	}
	return append(s, trainer.Setting{Name: "Options.Data", Value: fmt.Sprintf("%d training images of %d×%d×%d (labels crc32 %08x)",
		train.N, train.H, train.W, train.C, labels.Sum32())})
}

// checkSplit refuses an empty training or test set, naming the option that emptied it.
func checkSplit(o Options, train, test *data.Set) error {
	total := train.N + test.N
	switch {
	case train.N == 0 && o.Dataset == "folder":
		return fmt.Errorf("Options.ValFraction %v holds out all %d images of %s: no training images left; lower it", o.ValFraction, total, o.Data)
	case test.N == 0 && o.Dataset == "folder":
		return fmt.Errorf("Options.ValFraction %v holds out none of the %d images of %s (rounded per class): no test images; raise it", o.ValFraction, total, o.Data)
	case train.N == 0:
		return fmt.Errorf("no training images (Options.LimitTrain %d)", o.LimitTrain)
	case test.N == 0:
		return fmt.Errorf("no test images (Options.LimitTest %d)", o.LimitTest)
	}
	return nil
}

// configOptions maps the trainer.Config fields (a name before any it begins with: the first match wins) that Prepare sets from Options to those Options: the
// trainer's errors name its Config, and a recipe's user set Options.
var configOptions = strings.NewReplacer("Config.BatchSize", "Options.Batch", "Config.OutDir", "Options.Out",
	"Config.Resume", "Options.Resume", "Config.Seed", "Options.Seed", "Config.Epochs", "Options.Epochs",
	"Config.LRScales", "Options.HeadLRScale", "Config.LR", "Options.LR", "Config.Momentum", "Options.Momentum", "Config.WeightDecay", "Options.WeightDecay",
	"Config.Optimizer", "Options.Optimizer", "Config.Schedule", "Options.Schedule",
	"Config.LabelSmoothing", "Options.LabelSmoothing")

// InOptions rewrites the trainer.Config fields named in a message of the trainer (an error of Prepare's
// Trainer.Run, a history's Changed lines) as the Options fields Prepare set them from.
func InOptions(msg string) string { return configOptions.Replace(msg) }

// renamedError is an error whose message names other fields than the error it wraps.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
