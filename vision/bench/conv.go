// Package bench measures how fast a backend computes: a graph's run time ([TimeGraph]) and host–device
// transfers ([TimeTransfer]), which the notebooks use to compare devices, and the figures `gonbgpu bench`
// prints — convolution forward+backward times ([ConvBench]) and ResNet training throughput
// ([TrainBench]), with the backend's matrix-product rate ([MatMulBench]) as their ceiling — on whatever
// backend they are given.
package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/vision/conv"
)

// ConvShape is one convolution benchmark: a 3×3, stride-1, Same convolution of a batch of B images of H×H
// pixels with C channels in and out.
type ConvShape struct{ B, H, C int }

// ConvShapes are the default shapes: the three stages of a small ResNet on 28×28 images at batch 64.
var ConvShapes = []ConvShape{{64, 28, 16}, {64, 14, 64}, {64, 7, 128}}

// ConvOptions configure [ConvBench]; the zero value runs the default shapes.
type ConvOptions struct {
	Shapes []ConvShape // Default: ConvShapes.
	Warmup int         // Untimed runs first. Default 2.
	Runs   int         // Timed runs; the median is reported. Default 10.
	Impl   conv.Impl   // Default conv.Auto: lowered on the pure-Go backend, native elsewhere.
	// NHWC benchmarks NHWC tensors even where the backend prefers CNHW (see conv.PreferredLayout); this
	// adds the transposes that a model keeping its activations in NHWC pays on the pure-Go backend.
	NHWC bool
}

// ConvBench times a 3×3 convolution's forward pass plus its gradients with respect to the input and the
// kernel (given the output's gradient, like torch.autograd.grad(y, (x, w), dy)) on backend b, and prints
// one line per shape, and returns the times in milliseconds, shape by shape:
//
//	conv3x3 b=64 h=28 c=16: 12.3 ms fwd+bwd
func ConvBench(w io.Writer, b compute.Backend, opts ConvOptions) ([]float64, error) {
	if len(opts.Shapes) == 0 {
		opts.Shapes = ConvShapes
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 2
	}
	if opts.Runs <= 0 {
		opts.Runs = 10
	}
	layout := conv.PreferredLayout(b)
	if opts.NHWC {
		layout = conv.NHWC
	}
	var out []float64
	for _, s := range opts.Shapes {
		ms, err := convFwdBwdMillis(b, s, layout, opts)
		if err != nil {
			return out, fmt.Errorf("conv3x3 b=%d h=%d c=%d: %w", s.B, s.H, s.C, err)
		}
		if _, err := fmt.Fprintf(w, "conv3x3 b=%d h=%d c=%d: %.1f ms fwd+bwd\n", s.B, s.H, s.C, ms); err != nil {
			return out, err
		}
		out = append(out, ms)
	}
	return out, nil
}

// convFwdBwdMillis returns the median time of one forward+backward run, in milliseconds.
func convFwdBwdMillis(b compute.Backend, s ConvShape, layout conv.Layout, opts ConvOptions) (float64, error) {
	cfg := conv.Config{Stride: 1, Padding: conv.Same, Layout: layout, Impl: opts.Impl}
	exec, err := NewExec(b, func(x, kernel, dy *Node) []*Node {
		y := conv.Apply(x, kernel, cfg)
		// Inject dy as the gradient of y, at no cost: the scalar "loss" reads one element of y, and the
		// identity's custom gradient replaces what arrives with dy.
		yi := IdentityWithCustomGradient(y, func(_, _ *Node) *Node { return dy })
		loss := Reshape(Slice(yi, AxisElem(0), AxisElem(0), AxisElem(0), AxisElem(0)))
		grads := Gradient(loss, x, kernel)
		return []*Node{y, grads[0], grads[1]}
	})
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	dims := func(n, h, c int) []int {
		if layout == conv.CNHW {
			return []int{c, n, h, h}
		}
		return []int{n, h, h, c}
	}
	rng := rand.New(rand.NewPCG(uint64(s.B), uint64(s.H*1000+s.C)))
	x := randomTensor(rng, dims(s.B, s.H, s.C)...)
	kernel := randomTensor(rng, 3, 3, s.C, s.C)
	dy := randomTensor(rng, dims(s.B, s.H, s.C)...)
	defer func() { x.MustFinalizeAll(); kernel.MustFinalizeAll(); dy.MustFinalizeAll() }()

	times := make([]float64, 0, opts.Runs)
	for i := range opts.Warmup + opts.Runs {
		start := time.Now()
		var outs []*tensors.Tensor
		err := exceptions.TryCatch[error](func() { outs, err = exec.Exec(x, kernel, dy) })
		if err != nil {
			return 0, err
		}
		for _, o := range outs {
			o.MustFinalizeAll()
		}
		if i >= opts.Warmup {
			times = append(times, float64(time.Since(start).Microseconds())/1000)
		}
	}
	return median(times), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func randomTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(rng.NormFloat64())
		}
	})
	return t
}
