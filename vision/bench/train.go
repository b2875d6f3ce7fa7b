package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/vision/conv"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

// TrainOptions configure [TrainBench]. Zero values take [DefaultTrainOptions]' values.
type TrainOptions struct {
	Model    string  // A resnet model name (resnet.Models()).
	Width    float64 // Width multiplier.
	Plain    bool    // The plain twin (no skip connections).
	Batch    int     // Batch size.
	Size     int     // Image height and width.
	Channels int     // Image channels.
	Classes  int     // Number of classes.
	Warmup   int     // Untimed steps first (the first one compiles the graph).
	Steps    int     // Timed steps; the median is reported.
	// BatchNorm selects the batch-norm implementation (default resnet.BatchNormAuto).
	BatchNorm resnet.BatchNormImpl
	// ComputeDType runs the convolutions in this dtype (dtypes.BFloat16: mixed precision); default float32.
	ComputeDType dtypes.DType
	// ConvImpl selects the convolution (default conv.Auto: lowered on the pure-Go backend, native elsewhere).
	ConvImpl conv.Impl
}

// DefaultTrainOptions is what [TrainBench] measures for the options left zero, on a GPU (XLA on CUDA) or
// not: on the CPU, resnet.DefaultCPUModel (ResNet-20) at batch 64 on 28×28×1 images (Fashion-MNIST's); on
// a GPU, the configuration of ../shared/bench's PyTorch and JAX twins, resnet.DefaultGPUModel (the
// CIFAR-style ResNet-18) at batch 256 on 32×32×3, so that the three print figures of the same step.
func DefaultTrainOptions(onGPU bool) TrainOptions {
	o := TrainOptions{Model: resnet.DefaultCPUModel, Width: 1, Batch: 64, Size: 28, Channels: 1, Classes: 10, Warmup: 3, Steps: 10}
	if onGPU {
		o.Model, o.Batch, o.Size, o.Channels = resnet.DefaultGPUModel, 256, 32, 3
	}
	return o
}

// withDefaults fills the options left zero (or negative, for the counts) from d.
func (o TrainOptions) withDefaults(d TrainOptions) TrainOptions {
	if o.Model == "" {
		o.Model = d.Model
	}
	if o.Width == 0 {
		o.Width = d.Width
	}
	for _, f := range []struct{ v, d *int }{{&o.Batch, &d.Batch}, {&o.Size, &d.Size}, {&o.Channels, &d.Channels},
		{&o.Classes, &d.Classes}, {&o.Warmup, &d.Warmup}, {&o.Steps, &d.Steps}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return o
}

// TrainResult is what [TrainBench] measured.
type TrainResult struct {
	ImagesPerSecond float64
	StepMillis      float64 // median training step
	FirstSeconds    float64 // the first step: building and compiling the graph, and running it once
}

// TrainBench times training steps (forward, backward, Adam update) of a ResNet on synthetic data on backend
// b, and prints one line:
//
//	train resnet20 batch=64 size=28: 123.4 img/s, 518.6 ms/step
func TrainBench(w io.Writer, b compute.Backend, opts TrainOptions) (TrainResult, error) {
	opts = opts.withDefaults(DefaultTrainOptions(platform.IsCUDA(b)))
	builder := resnet.New(opts.Model).Width(opts.Width).Plain(opts.Plain).NumClasses(opts.Classes).
		BatchNorm(opts.BatchNorm).ComputeDType(opts.ComputeDType).ConvImpl(opts.ConvImpl)
	if err := builder.Validate(); err != nil {
		return TrainResult{}, err
	}
	trainer := train.NewTrainer(b, model.NewStore(), builder.ModelFn(), loss.SparseCategoricalCrossEntropyLogits,
		optimizer.Adam().Done(), nil, nil)

	// TrainStep takes ownership of (and frees) its batch, so prepare one copy per step ahead of time.
	rng := rand.New(rand.NewPCG(1, 2))
	total := opts.Warmup + opts.Steps
	batches := make([]train.Batch, total)
	for i := range batches {
		images := tensors.FromShape(shapes.Make(dtypes.Float32, opts.Batch, opts.Size, opts.Size, opts.Channels))
		tensors.MutableFlatData(images, func(flat []float32) {
			for j := range flat {
				flat[j] = float32(rng.NormFloat64())
			}
		})
		labels := tensors.FromShape(shapes.Make(dtypes.Int32, opts.Batch, 1))
		tensors.MutableFlatData(labels, func(flat []int32) {
			for j := range flat {
				flat[j] = int32(rng.IntN(opts.Classes))
			}
		})
		batches[i] = train.Batch{Inputs: []*tensors.Tensor{images}, Labels: []*tensors.Tensor{labels}}
	}

	// The steps are timed together, from the end of the warm-up to the end of the last step, each end
	// waiting for the device (reading the loss): on XLA a step returns as soon as it is queued, so timing
	// steps one by one would time the queueing.
	var first float64
	var timedStart time.Time
	for i, batch := range batches {
		if i == opts.Warmup {
			timedStart = time.Now()
		}
		start := time.Now()
		var metrics []*tensors.Tensor
		err := exceptions.TryCatch[error](func() {
			var err error
			metrics, err = trainer.TrainStep(batch)
			if err != nil {
				panic(err)
			}
		})
		if err != nil {
			for _, rest := range batches[i+1:] {
				_ = rest.Finalize()
			}
			return TrainResult{}, fmt.Errorf("train %s: step %d: %w", builder.Name(), i, err)
		}
		if i == 0 || i == opts.Warmup-1 || i == len(batches)-1 {
			_ = metrics[0].Value() // wait for the device
		}
		if i == 0 {
			first = time.Since(start).Seconds()
		}
		for _, m := range metrics {
			m.MustFinalizeAll()
		}
	}
	elapsed := time.Since(timedStart)
	res := TrainResult{StepMillis: float64(elapsed.Microseconds()) / 1000 / float64(opts.Steps), FirstSeconds: first}
	res.ImagesPerSecond = float64(opts.Batch) / (res.StepMillis / 1000)
	_, err := fmt.Fprintf(w, "train %s batch=%d size=%d: %.1f img/s, %.1f ms/step, first step %.1f s\n", builder.Name(), opts.Batch,
		opts.Size, res.ImagesPerSecond, res.StepMillis, res.FirstSeconds)
	return res, err
}
