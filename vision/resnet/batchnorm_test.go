package resnet

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
)

// bnGradReference is batch norm's input gradient in closed form, for dy = r, scale = 1:
// dx = (dy - mean(dy) - x̂·mean(dy·x̂)) / σ, the means over every axis but the feature axis (axis 0 here).
func bnGradReference(x, r []float32, c int) []float32 {
	n := len(x) / c
	dx := make([]float32, len(x))
	for ch := range c {
		xs, rs := x[ch*n:(ch+1)*n], r[ch*n:(ch+1)*n]
		var mean, variance float64
		for _, v := range xs {
			mean += float64(v)
		}
		mean /= float64(n)
		for _, v := range xs {
			variance += (float64(v) - mean) * (float64(v) - mean)
		}
		variance /= float64(n)
		sigma := math.Sqrt(variance + bnEpsilon)
		var meanDy, meanDyXhat float64
		for i := range xs {
			xhat := (float64(xs[i]) - mean) / sigma
			meanDy += float64(rs[i])
			meanDyXhat += float64(rs[i]) * xhat
		}
		meanDy /= float64(n)
		meanDyXhat /= float64(n)
		for i := range xs {
			xhat := (float64(xs[i]) - mean) / sigma
			dx[ch*n+i] = float32((float64(rs[i]) - meanDy - xhat*meanDyXhat) / sigma)
		}
	}
	return dx
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// textbookBatchNorm is batch norm as written in the paper, differentiated by GoMLX through the batch
// statistics, followed by an optional ReLU: the reference for exactBatchNorm's training gradients.
func textbookBatchNorm(x, scale, offset *Node, featureAxis int, relu bool) *Node {
	var axes []int
	for i := range x.Rank() {
		if i != featureAxis {
			axes = append(axes, i)
		}
	}
	dims := []int{1, 1, 1, 1}
	dims[featureAxis] = scale.Shape().Size()
	mean := ReduceAndKeep(x, ReduceMean, axes...)
	variance := ReduceAndKeep(Square(Sub(x, mean)), ReduceMean, axes...)
	y := Add(Mul(Div(Sub(x, mean), Sqrt(AddScalar(variance, bnEpsilon))), Reshape(scale, dims...)), Reshape(offset, dims...))
	if relu {
		y = Max(y, ZerosLike(y))
	}
	return y
}

// TestExactBatchNorm checks exactBatchNorm's training output and gradients (input, scale, offset) against
// the textbook formula differentiated by GoMLX and against the closed form; and its forward, moving
// averages and inference against norm.BatchNorm's.
func TestExactBatchNorm(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	const c = 3
	for _, featureAxis := range []int{0, 3} {
		for _, relu := range []bool{false, true} {
			dims := []int{c, 4, 5, 6}
			if featureAxis == 3 {
				dims = []int{4, 5, 6, c}
			}
			x := randomImages(rng, dims[0], dims[1], dims[2], dims[3])
			r := randomImages(rng, dims[0], dims[1], dims[2], dims[3])
			scale := tensors.FromValue([]float32{1.5, -0.7, 0.3})
			offset := tensors.FromValue([]float32{0.1, 0.2, -0.3})
			store := model.NewStore()
			bnScope := store.RootScope().In("bn").In(norm.BatchNormalizationScopeName)
			if _, err := bnScope.CreateVariable("scale", scale); err != nil {
				t.Fatal(err)
			}
			if _, err := bnScope.CreateVariable("offset", offset); err != nil {
				t.Fatal(err)
			}
			outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x, r *Node) []*Node {
				scope.Store().SetTraining(x.Graph(), true)
				scaleV := store.GetVariable("/bn/batch_normalization/scale").NodeValue(x.Graph())
				offsetV := store.GetVariable("/bn/batch_normalization/offset").NodeValue(x.Graph())
				y := exactBatchNorm(scope.In("bn"), x, featureAxis, relu)
				grads := Gradient(ReduceAllSum(Mul(y, r)), x, scaleV, offsetV)
				yRef := textbookBatchNorm(x, scaleV, offsetV, featureAxis, relu)
				refGrads := Gradient(ReduceAllSum(Mul(yRef, r)), x, scaleV, offsetV)
				return []*Node{y, grads[0], grads[1], grads[2], yRef, refGrads[0], refGrads[1], refGrads[2]}
			}, x, r)
			if err != nil {
				t.Fatalf("axis %d relu %v: %+v", featureAxis, relu, err)
			}
			for i, name := range []string{"output", "grad x", "grad scale", "grad offset"} {
				got := tensors.MustCopyFlatData[float32](outs[i])
				want := tensors.MustCopyFlatData[float32](outs[i+4])
				if d := maxAbsDiff(got, want); d > 2e-4 {
					t.Errorf("axis %d relu %v: %s differs from the textbook batch norm by %g", featureAxis, relu, name, d)
				}
			}
		}
	}

	// Closed form, and comparison with norm.BatchNorm (features on axis 0, scale 1, offset 0).
	x := randomImages(rng, c, 4, 5, 6)
	x2 := randomImages(rng, c, 4, 5, 6)
	r := randomImages(rng, c, 4, 5, 6)
	run := func(impl BatchNormImpl, training bool, store *model.Store, x *tensors.Tensor) (y, dx []float32) {
		outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x, r *Node) []*Node {
			scope.Store().SetTraining(x.Graph(), training)
			n := &net{Builder: New("resnet20").BatchNorm(impl), pureGo: true}
			y := n.batchNorm(scope.In("bn"), []*Node{x}, 0, false)[0]
			return []*Node{y, Gradient(ReduceAllSum(Mul(y, r)), x)[0]}
		}, x, r)
		if err != nil {
			t.Fatalf("%s: %+v", impl, err)
		}
		return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	}
	exactStore, gomlxStore := model.NewStore(), model.NewStore()
	yExact, dxExact := run(BatchNormExact, true, exactStore, x)
	yGoMLX, dxGoMLX := run(BatchNormGoMLX, true, gomlxStore, x)
	if d := maxAbsDiff(yExact, yGoMLX); d > 1e-5 {
		t.Errorf("training forward differs from norm.BatchNorm by %g", d)
	}
	want := bnGradReference(tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](r), c)
	if d := maxAbsDiff(dxExact, want); d > 1e-4 {
		t.Errorf("input gradient differs from the closed form by %g", d)
	}
	t.Logf("norm.BatchNorm (pure-Go path) input gradient differs from the closed form by %g", maxAbsDiff(dxGoMLX, want))

	// A second training step on another batch, then inference: the moving averages must agree.
	run(BatchNormExact, true, exactStore, x2)
	run(BatchNormGoMLX, true, gomlxStore, x2)
	yExact, _ = run(BatchNormExact, false, exactStore, x)
	yGoMLX, _ = run(BatchNormGoMLX, false, gomlxStore, x)
	if d := maxAbsDiff(yExact, yGoMLX); d > 1e-5 {
		t.Errorf("inference differs from norm.BatchNorm by %g", d)
	}
	for _, name := range []string{"scale", "offset", "mean", "variance", "avg_weight"} {
		if exactStore.GetVariable("/bn/"+norm.BatchNormalizationScopeName+"/"+name) == nil {
			t.Errorf("exactBatchNorm has no variable %q", name)
		}
	}
}

// TestBatchNormAutoUnderDataParallelism: on XLA the automatic choice is GoMLX's fused batch norm on one
// device and the exact one (plain reductions, which XLA's partitioner splits) on a distributed graph; the
// pure-Go backend always takes the exact one, and an explicit choice is kept. (The distributed graph
// itself needs several devices: this checks the decision; gpu-check runs the distributed path.)
func TestBatchNormAutoUnderDataParallelism(t *testing.T) {
	cases := []struct {
		pureGo, distributed bool
		impl, want          BatchNormImpl
	}{
		{false, false, BatchNormAuto, BatchNormGoMLX},
		{false, true, BatchNormAuto, BatchNormExact},
		{true, false, BatchNormAuto, BatchNormExact},
		{false, true, BatchNormGoMLX, BatchNormGoMLX},
	}
	for _, c := range cases {
		n := &net{Builder: New("resnet20").BatchNorm(c.impl), pureGo: c.pureGo, distributed: c.distributed}
		if got := n.batchNormImpl(); got != c.want {
			t.Errorf("pureGo=%v distributed=%v %s: got %s, want %s", c.pureGo, c.distributed, c.impl, got, c.want)
		}
	}
}
