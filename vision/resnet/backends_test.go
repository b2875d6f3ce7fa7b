package resnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// flat64 copies a float32 or float64 tensor's values as float64.
func flat64(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float64 {
		return tensors.MustCopyFlatData[float64](t)
	}
	f := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// imagesOf makes n deterministic h×w×1 images in dt: a new tensor at each call, since a tensor keeps a
// copy on the backend it was last used on.
func imagesOf(dt dtypes.DType, n, h, w int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(31, 32))
	t := tensors.FromShape(shapes.Make(dt, n, h, w, 1))
	if dt == dtypes.Float64 {
		tensors.MutableFlatData(t, func(flat []float64) {
			for i := range flat {
				flat[i] = rng.NormFloat64()
			}
		})
	} else {
		tensors.MutableFlatData(t, func(flat []float32) {
			for i := range flat {
				flat[i] = float32(rng.NormFloat64())
			}
		})
	}
	return t
}

// forwardBackward runs the model in training mode on b and returns its logits and the gradients of
// Σ logits² with respect to every trainable variable, in the store's order, as float64.
func forwardBackward(t *testing.T, b compute.Backend, store *model.Store, builder *Builder, images *tensors.Tensor) (logits []float64, grads [][]float64) {
	t.Helper()
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, true)
		y := builder.Build(scope, x)
		var vars []*Node
		for v := range store.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				vars = append(vars, v.NodeValue(g))
			}
		}
		return append([]*Node{y}, Gradient(ReduceAllSum(Square(y)), vars...)...)
	}, images)
	if err != nil {
		t.Fatalf("%s on %s: %+v", builder.Name(), b.Name(), err)
	}
	logits = flat64(outs[0])
	for _, o := range outs[1:] {
		grads = append(grads, flat64(o))
	}
	return logits, grads
}

// initialize creates the model's variables on b (one inference run) and returns the store.
func initialize(t *testing.T, b compute.Backend, builder *Builder, images *tensors.Tensor) *model.Store {
	t.Helper()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(9))
	if _, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		return []*Node{builder.Build(scope, x)}
	}, images); err != nil {
		t.Fatalf("initializing on %s: %+v", b.Name(), err)
	}
	return store
}

// TestBackendsAgree: ResNet-20 (width 1/4, exact batch norm) computes the same logits and gradients on
// the pure-Go backend and on XLA's CPU plugin from the same weights and images, though each runs its own
// formulation (pure Go: CNHW layout and lowered convolutions; XLA: NHWC and its native convolution). In
// float64 they agree to 1e-10 (relative to the largest value); in float32, to 1e-4: the summation orders
// differ, and float32 carries about 7 digits.
func TestBackendsAgree(t *testing.T) {
	goB, xlaB := testutil.GoBackend(t), testutil.XLACPU(t)
	for _, c := range []struct {
		dt  dtypes.DType
		tol float64
	}{{dtypes.Float64, 1e-10}, {dtypes.Float32, 1e-4}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			builder := New("resnet20").Width(0.25).NumClasses(3).BatchNorm(BatchNormExact)
			const n, h = 4, 12
			storeGo := initialize(t, goB, builder, imagesOf(c.dt, n, h, h))
			storeXLA := initialize(t, xlaB, builder, imagesOf(c.dt, n, h, h))
			// The same weights on both: the pure-Go store's, copied through the host.
			copied := 0
			for v := range storeGo.IterVariables() {
				val, err := v.Value()
				if err != nil {
					t.Fatal(err)
				}
				host, err := val.LocalClone()
				if err != nil {
					t.Fatal(err)
				}
				w := storeXLA.GetVariable(v.Path())
				if w == nil {
					t.Fatalf("variable %s is missing from the XLA store", v.Path())
				}
				if err := w.SetValue(host); err != nil {
					t.Fatal(err)
				}
				copied++
			}
			logitsGo, gradsGo := forwardBackward(t, goB, storeGo, builder, imagesOf(c.dt, n, h, h))
			logitsXLA, gradsXLA := forwardBackward(t, xlaB, storeXLA, builder, imagesOf(c.dt, n, h, h))
			if len(gradsGo) != len(gradsXLA) || len(gradsGo) < 20 {
				t.Fatalf("%d gradients on pure Go, %d on XLA (%d variables copied)", len(gradsGo), len(gradsXLA), copied)
			}
			check := func(what string, a, b []float64) {
				scale := 0.0
				for _, v := range a {
					scale = max(scale, math.Abs(v))
				}
				for i := range a {
					if d := math.Abs(a[i] - b[i]); d > c.tol*max(scale, 1e-30) || math.IsNaN(b[i]) {
						t.Errorf("%s[%d]: pure Go %.12g, XLA %.12g: differ by %.3g of the largest value %.3g (tolerance %g)",
							what, i, a[i], b[i], d/scale, scale, c.tol)
						return
					}
				}
			}
			check("logits", logitsGo, logitsXLA)
			for i := range gradsGo {
				check(fmt.Sprintf("gradient #%d", i), gradsGo[i], gradsXLA[i])
			}
		})
	}
}
