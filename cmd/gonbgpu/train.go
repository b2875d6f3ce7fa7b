package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/internal/slurm"
	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
	"github.com/gonbgpu/gonbgpu/vision/recipe"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

func init() {
	register("train", "train a ResNet on Fashion-MNIST, CIFAR-10 or a folder of images (the batch-job command)", runTrain)
}

// exitError carries a process exit status with its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// sayIfJobOnCPU says on standard error, once (commands create their backend once), that a SLURM job
// computes on the CPU and why: see [gpu.CPUNotice]. SLURM's environment was read at the edge, into the
// choice's Job (gpu.OptionsFromEnvironment).
func sayIfJobOnCPU(c *platform.Choice) {
	fmt.Fprint(os.Stderr, gpu.CPUNotice(c))
}

// progressEveryEnv sets how often the plain progress line of a batch job's log is printed, as a Go
// duration (e.g. "10s"; default one minute): see [trainer.AutoProgress].
const progressEveryEnv = "GONBGPU_PROGRESS_EVERY"

// progressEvery reads $GONBGPU_PROGRESS_EVERY through lookup: 0 when unset (the trainer's default), an
// error naming the variable when it is not a positive duration.
func progressEvery(lookup func(string) (string, bool)) (time.Duration, error) {
	v, ok := lookup(progressEveryEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("gonbgpu train: %s=%q: want a positive Go duration such as 30s or 2m", progressEveryEnv, v)
	}
	return d, nil
}

// requireGPUDefault decides whether training requires the GPU when --require-gpu is not given: as
// GONBGPU_REQUIRE_GPU says when it is set, else in a SLURM job that was given GPUs (a batch job that falls
// back to the CPU burns its hours for nothing).
func requireGPUDefault(lookup func(string) (string, bool)) bool {
	if v, ok := lookup(gpu.RequireGPUEnv); ok && strings.TrimSpace(v) != "" {
		return gpu.ParseRequireGPU(v)
	}
	if v, ok := lookup(gpu.BackendEnv); ok && strings.TrimSpace(v) != "" {
		return false // the backend was chosen by hand
	}
	return slurm.Read(lookup).GPUs > 0
}

// trainFlags defines train's flags into o. Their defaults are the recipe's (recipe.Defaults), written once
// there; those that depend on the backend or the optimizer stay zero, and their help says what the recipe
// then takes.
func trainFlags(o *recipe.Options) (fs *flag.FlagSet, requireGPU *bool) {
	d := recipe.Defaults()
	fs = newFlags("train", "[flags]", "gonbgpu train --dataset fashion-mnist --model resnet20 --epochs 5 --out runs/r20\nsbatch install/slurm/train-1gpu.sbatch   # the same, as a SLURM job")
	fs.StringVar(&o.Dataset, "dataset", d.Dataset, "dataset: "+strings.Join(recipe.Datasets, ", "))
	fs.StringVar(&o.Data, "data", "", "dataset `DIR` (default: the copy `gonbgpu data fetch` put in $GONBGPU_DATA, then Debian's; Fashion-MNIST is downloaded, verified, when found nowhere)")
	fs.IntVar(&o.ImageSize, "size", d.ImageSize, "image side for --dataset folder")
	fs.Float64Var(&o.ValFraction, "val-fraction", d.ValFraction, "fraction of a folder's images held out for testing")
	fs.Float64Var(&o.Holdout, "holdout", d.Holdout, "fraction of the training images held out for validation: each epoch is evaluated on it, the best one's weights kept, and the test set evaluated once, with those (0: none; the test set after every epoch)")
	fs.BoolVar(&o.SkipBad, "skip-bad", false, "skip unreadable images of a folder (and report them) instead of failing")
	fs.IntVar(&o.LimitTrain, "limit-train", 0, "use only the first `N` training images")
	fs.IntVar(&o.LimitTest, "limit-test", 0, "use only the first `N` test images")
	fs.StringVar(&o.Model, "model", "", "model: "+strings.Join(resnet.Models(), ", ")+" (default "+resnet.DefaultModelHelp()+")")
	fs.Float64Var(&o.Width, "width", d.Width, "width multiplier of every layer")
	fs.BoolVar(&o.Plain, "plain", false, "the plain twin: no skip connections")
	fs.StringVar(&o.Precision, "precision", d.Precision, "fp32, or bf16 (mixed precision, on a GPU)")
	fs.IntVar(&o.Epochs, "epochs", d.Epochs, "epochs to train (with --resume: the total, counting those done)")
	fs.IntVar(&o.Batch, "batch", d.Batch, "global batch size, split over the devices")
	fs.Float64Var(&o.LR, "lr", 0, "peak learning rate (default "+recipe.DefaultsHelp("lr")+")")
	fs.StringVar(&o.Optimizer, "optimizer", d.Optimizer, "sgd (Nesterov momentum, weight decay) or adam")
	fs.Float64Var(&o.Momentum, "momentum", 0, "momentum (default "+recipe.DefaultsHelp("momentum")+")")
	fs.Float64Var(&o.WeightDecay, "weight-decay", 0, "weight decay (default "+recipe.DefaultsHelp("weight-decay")+")")
	fs.StringVar(&o.Schedule, "schedule", d.Schedule, "learning-rate schedule: onecycle, cosine or constant")
	fs.Float64Var(&o.LabelSmoothing, "label-smoothing", 0, "label smoothing, e.g. 0.1")
	fs.BoolVar(&o.NoAugment, "no-augment", false, "no training augmentation")
	fs.IntVar(&o.Devices, "devices", 0, "devices to train on, data-parallel: GPUs on xla:cuda, CPU devices on xla:cpu (0: all the backend has, as CUDA_VISIBLE_DEVICES/SLURM allow)")
	fs.IntVar(&o.Devices, "gpus", 0, "the same as --devices (kept for older scripts)")
	fs.Int64Var(&o.Seed, "seed", d.Seed, "random seed (initial weights, shuffling, augmentation)")
	fs.StringVar(&o.Out, "out", "", "output `DIR` for history.json, history.csv and checkpoints (default runs/MODEL-DATASET)")
	fs.BoolVar(&o.Resume, "resume", false, "continue from the checkpoint in --out")
	// Transfer learning: fine-tune a torchvision ResNet exported to ONNX (see package vision/pretrained).
	fs.StringVar(&o.Pretrained, "pretrained", "", "fine-tune the torchvision ResNet-18/34/50 in `FILE.onnx` (new head for the dataset's classes)")
	fs.StringVar(&o.InitFrom, "init-from", "", "start from the newest checkpoint of the run in `RUN_DIR` (its --out; same --model and --width), with a new head for the dataset's classes")
	fs.BoolVar(&o.FreezeBackbone, "freeze-backbone", false, "with --pretrained or --init-from: train only the new head")
	fs.Float64Var(&o.HeadLRScale, "head-lr-scale", d.HeadLRScale, "with --pretrained or --init-from: the new head's learning rate is this times --lr (sgd)")
	fs.IntVar(&o.PretrainedSize, "pretrained-size", 0, "with --pretrained: resize images to `N`×N in the model (default: the file's input size, 224)")
	requireGPU = fs.Bool("require-gpu", requireGPUDefault(os.LookupEnv),
		"fail at once, with the reason, unless training runs on a GPU (default: on in SLURM jobs with GPUs, or "+gpu.RequireGPUEnv+"=1)")
	return fs, requireGPU
}

func runTrain(args []string) error {
	var o recipe.Options
	fs, requireGPU := trainFlags(&o)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	opts, err := gpu.OptionsFromEnvironment()
	if err != nil {
		return err
	}
	opts.RequireGPU = *requireGPU
	choice, err := gpu.DefaultWith(opts, nil)
	if err != nil {
		return withRequireGPUFlag(err)
	}
	sayIfJobOnCPU(choice)
	if o.Out == "" {
		model := o.Model
		if o.Pretrained != "" { // runs/resnet18-pretrained-cifar10
			model = strings.TrimSuffix(filepath.Base(o.Pretrained), filepath.Ext(o.Pretrained)) + "-pretrained"
		}
		if model == "" {
			model = resnet.DefaultModel(choice.Backend)
		}
		if o.InitFrom != "" { // runs/resnet20-finetuned-folder, not the source run's folder
			model += "-finetuned"
		}
		o.Out = filepath.Join("runs", model+"-"+strings.ToLower(o.Dataset))
	}
	// Where Fashion-MNIST and CIFAR-10 are looked for and fetched to: $GONBGPU_DATA, read here, once.
	o.Datasets = catalog.FromEnvironment()
	flags := optionFlags(fs, &o)
	every, err := progressEvery(os.LookupEnv)
	if err != nil {
		return err
	}
	run, err := recipe.Prepare(choice, o)
	if err != nil {
		return withFlags(err, flags)
	}
	run.Trainer.Progress = trainer.AutoProgress(every)
	for _, l := range run.Lines {
		fmt.Println(l)
	}
	fmt.Printf("output:   %s\n\n", run.Options.Out)

	// SLURM sends SIGTERM before the time limit; Ctrl-C sends SIGINT. Either makes the trainer write a
	// checkpoint at the current step and return.
	ctx, stop := signalContext()
	defer stop()

	start := time.Now()
	h, err := run.Trainer.Run(ctx)
	if errors.Is(err, trainer.ErrInterrupted) {
		got := caughtSignal(ctx)
		code := 143
		if got == syscall.SIGINT {
			code = 130
		}
		return &exitError{code, fmt.Sprintf("gonbgpu train: stopped by %v after %d complete epoch(s); checkpoint and history are in %s — run again with --resume to continue",
			got, len(h.Epochs), run.Options.Out)}
	}
	if err != nil {
		return withFlags(err, flags)
	}
	last := h.Last()
	best := 0.0
	for _, e := range h.Epochs {
		best = max(best, e.TestAcc)
	}
	var trainSecs float64
	for _, e := range h.Epochs {
		trainSecs += e.Seconds
	}
	fmt.Printf("\ndone: %s on %s, %d epoch(s) in %s (training %.1f s, first step with compilation %.1f s)\n",
		h.Model, h.Dataset, len(h.Epochs), time.Since(start).Round(time.Second), trainSecs, h.CompileSeconds)
	if s := h.Selected; s != nil {
		fmt.Printf("test accuracy: %.4f, of epoch %d, selected on the validation split (val accuracy %.4f); %.0f img/s in the last epoch, %d parameters\n",
			s.TestAcc, s.Epoch, s.ValAcc, last.ImagesPerSec, h.Parameters)
	} else {
		fmt.Printf("test accuracy: %.4f (best %.4f), %.0f img/s in the last epoch, %d parameters\n",
			last.TestAcc, best, last.ImagesPerSec, h.Parameters)
	}
	fmt.Printf("history: %s, %s\n", filepath.Join(run.Options.Out, "history.json"), filepath.Join(run.Options.Out, "history.csv"))
	return nil
}

// stopSignal is the cause of signalContext's cancellation: the signal that arrived.
type stopSignal struct{ os.Signal }

func (s stopSignal) Error() string { return "stopped by " + s.Signal.String() }

// signalContext returns a context that the first SIGTERM or SIGINT cancels, with the signal as its cause
// (see caughtSignal); stop restores the signals' default action. The signals are registered once, and
// the context itself hands over which one arrived: the goroutine that receives it writes nothing else.
// (A second registration, read through a variable the receiving goroutine wrote, was a data race.)
func signalContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-sigs:
			cancel(stopSignal{s})
		case <-ctx.Done(): // stopped
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}

// caughtSignal returns the signal that cancelled a signalContext's context, or nil.
func caughtSignal(ctx context.Context) os.Signal {
	var s stopSignal
	if errors.As(context.Cause(ctx), &s) {
		return s.Signal
	}
	return nil
}
