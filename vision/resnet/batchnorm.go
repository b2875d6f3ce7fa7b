package resnet

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/internal/customvjp"
)

// BatchNormImpl selects how batch normalization is computed.
type BatchNormImpl int

const (
	// BatchNormAuto is GoMLX's norm.BatchNorm on XLA on one device (the fused op, whose gradient is
	// exact), and BatchNormExact on the pure-Go backend and in distributed graphs (data parallelism).
	BatchNormAuto BatchNormImpl = iota

	// BatchNormGoMLX is GoMLX's norm.BatchNorm everywhere, with UseBackendInference(false) on the pure-Go
	// backend. Beware: that differentiable path (GoMLX v0.28.2) stops the gradient at the batch mean and
	// variance, so its training gradient is not batch norm's, and training is visibly noisier than on XLA.
	BatchNormGoMLX

	// BatchNormExact is batch normalization written with plain graph ops, differentiated through the batch
	// statistics (the gradient of XLA's fused op and of PyTorch). It uses the same variables, defaults
	// (momentum 0.9 with GoMLX's warm-up debiasing, epsilon 1e-3) and inference path as norm.BatchNorm, and
	// supports norm.UpdateBatchNormAverages.
	BatchNormExact
)

func (b BatchNormImpl) String() string {
	switch b {
	case BatchNormAuto:
		return "auto"
	case BatchNormGoMLX:
		return "gomlx"
	case BatchNormExact:
		return "exact"
	}
	return fmt.Sprintf("BatchNormImpl(%d)", int(b))
}

const (
	// bnMomentum is the weight of the old moving averages: 0.9, PyTorch's default (its momentum=0.1), rather
	// than norm.BatchNorm's 0.99. The course trains for a few epochs (a few dozen steps on the CPU), and
	// with 0.99 the averages used at test time still remember the first steps' very different
	// activations: test losses came out orders of magnitude above the training loss.
	bnMomentum = 0.9
	bnEpsilon  = 1e-3 // norm.BatchNorm's default.
)

// batchNorm normalizes the batch (given in parts, see Builder.BatchParts) over all axes but featureAxis,
// with variables under scope/batch_normalization, and applies a ReLU if relu is set.
func (n *net) batchNorm(scope *model.Scope, xs []*Node, featureAxis int, relu bool) []*Node {
	if n.batchNormImpl() == BatchNormGoMLX {
		if len(xs) != 1 {
			exceptions.Panicf("resnet: GoMLX's batch norm takes the batch in one part, got %d", len(xs))
		}
		x := norm.BatchNorm(scope, xs[0], featureAxis).Momentum(bnMomentum).Epsilon(n.epsilon()).
			FrozenAverages(n.frozenBN || n.freezeBackbone).UseBackendInference(!n.pureGo).Done()
		if relu {
			return n.relu([]*Node{x})
		}
		return []*Node{x}
	}
	return exactBatchNormPartsWith(scope, xs, featureAxis, relu, bnOptions{epsilon: n.epsilon(), frozen: n.frozenBN || n.freezeBackbone})
}

// epsilon is the batch norms' epsilon: Builder.BatchNormEpsilon, or bnEpsilon.
func (n *net) epsilon() float64 {
	if n.bnEpsilon > 0 {
		return n.bnEpsilon
	}
	return bnEpsilon
}

// bnOptions are the batch-norm settings of Builder.BatchNormEpsilon and Builder.FrozenBatchNorm.
type bnOptions struct {
	epsilon float64
	frozen  bool // normalise with the moving averages, in training too, and never update them
}

// batchNormImpl resolves BatchNormAuto: GoMLX's on XLA on one device, the exact one on the pure-Go
// backend and in distributed graphs.
//
// Why not the fused op under data parallelism: GoMLX's norm.BatchNorm lowers to XLA's
// batch_norm_training and batch_norm_grad, and XLA's SPMD partitioner may have no sharding rule for them;
// with the batch axis split over the GPUs it then gathers the whole activation onto every GPU at each
// batch-norm layer. The exact batch norm is plain per-channel reductions over the batch, which the
// partitioner splits as it splits any reduction: a partial sum per GPU and one all-reduce of a vector
// per channel. It computes the same function and gradient (TestConfigurationsAgree).
func (n *net) batchNormImpl() BatchNormImpl {
	if n.bnImpl != BatchNormAuto {
		return n.bnImpl
	}
	if n.pureGo || n.distributed {
		return BatchNormExact
	}
	return BatchNormGoMLX
}

// relu is activation.Relu, or on the pure-Go backend Max(x, 0) with the gradient Where(y > 0, v, 0): three
// elementwise passes instead of the seven of automatic differentiation of Max(x, ZerosLike(x)).
func (n *net) relu(xs []*Node) []*Node {
	ys := make([]*Node, len(xs))
	for p, x := range xs {
		if !n.pureGo {
			ys[p] = activation.Relu(x)
			continue
		}
		ys[p] = customvjp.Apply([]*Node{x}, func(in []*Node) (*Node, []customvjp.Grad) {
			zero := ScalarZero(x.Graph(), x.DType())
			y := Max(in[0], zero)
			return y, []customvjp.Grad{func(v *Node) *Node { return Where(GreaterThan(y, zero), v, zero) }}
		})
	}
	return ys
}

// exactBatchNorm is batch normalization (optionally followed by a ReLU) with the gradient flowing through
// the batch statistics; its variables and moving-average updates mirror norm.BatchNorm's so that the two are
// interchangeable.
//
// In training it is written for the pure-Go backend, where every elementwise pass over an activation costs
// about a nanosecond per element and the per-channel reductions are fastest as dot products: forward is
// y = x·a + b (a = γ/σ, b = β − μ·a, from Σx and Σx² per channel), and its hand-written backward is
// dx = a·dz + k1·x + k0 with per-channel k1, k0 from Σdz and Σdz·x (dz = dy masked by the ReLU) — about 10
// elementwise passes for forward and backward together, where automatic differentiation of the textbook
// formula makes ~30.
func exactBatchNorm(scope *model.Scope, x *Node, featureAxis int, relu bool) *Node {
	return exactBatchNormParts(scope, []*Node{x}, featureAxis, relu)[0]
}

// exactBatchNormParts is exactBatchNorm of a batch given in parts (split along a batch axis, all with the
// same other dimensions): the statistics are the whole batch's, so the result equals exactBatchNorm of the
// joined batch, but every pass over the activations is per part, and independent parts run in parallel on
// the pure-Go backend (which parallelises matrix products but not elementwise operations). The parts meet
// only in per-channel sums.
func exactBatchNormParts(scope *model.Scope, xs []*Node, featureAxis int, relu bool) []*Node {
	return exactBatchNormPartsWith(scope, xs, featureAxis, relu, bnOptions{epsilon: bnEpsilon})
}

// exactBatchNormPartsWith is exactBatchNormParts with the given epsilon, or frozen (see bnOptions).
func exactBatchNormPartsWith(scope *model.Scope, xs []*Node, featureAxis int, relu bool, opt bnOptions) []*Node {
	x0 := xs[0]
	g := x0.Graph()
	dtype := x0.DType()
	featureAxis = MustAdjustAxis(featureAxis, x0)
	c := x0.Shape().Dimensions[featureAxis]
	n := 0 // values per channel, all parts together
	for _, x := range xs {
		n += x.Shape().Size() / c
	}
	if !opt.frozen {
		scope.Store().RootScope().SetParam(norm.AveragesUpdatesTriggerParam, true)
	}
	scope = scope.In(norm.BatchNormalizationScopeName)

	vs := shapes.Make(dtype, c)
	scaleVar := scope.WithInitializer(initializer.One).VariableWithShape("scale", vs).SetTrainable(true)
	offsetVar := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vs).SetTrainable(true)
	meanVar := scope.WithInitializer(initializer.Zero).VariableWithShape("mean", vs).SetTrainable(false)
	varianceVar := scope.WithInitializer(initializer.One).VariableWithShape("variance", vs).SetTrainable(false)
	weightVar := scope.WithInitializer(initializer.Zero).VariableWithShape("avg_weight", vs).SetTrainable(false)

	// bcast takes a per-channel vector [c] to x's shape. On the pure-Go backend a Mul or Add that broadcasts
	// a [c, 1, 1, 1] operand walks a generic index iterator (~5 ns per element, measured), while the outer
	// product v·1ᵀ (a matrix product with one contracting element) followed by a same-shape op costs about
	// half of that: so with channels first (the layout used there), per-channel vectors are expanded by a
	// matrix product.
	bcast := func(v, x *Node) *Node {
		dims := make([]int, x.Rank())
		for i := range dims {
			dims[i] = 1
		}
		dims[featureAxis] = c
		return Reshape(v, dims...)
	}
	if featureAxis == 0 {
		onesRows := map[int]*Node{}
		bcast = func(v, x *Node) *Node {
			m := x.Shape().Size() / c
			if onesRows[m] == nil {
				onesRows[m] = Ones(g, shapes.Make(dtype, 1, m))
			}
			return Reshape(MatMul(Reshape(v, c, 1), onesRows[m]), x.Shape().Dimensions...)
		}
	}
	// sums(as, xs) returns Σa and Σa·x per channel over all parts; see channelSums.
	withOnes := make([]*Node, len(xs))
	sums := func(as, xs []*Node) (sumA, sumAX *Node) {
		for p := range as {
			var sa, sax *Node
			if featureAxis != 0 {
				sa, sax = channelSumsGeneric(as[p], xs[p], featureAxis)
			} else {
				if withOnes[p] == nil {
					withOnes[p] = onesAndX(xs[p])
				}
				sa, sax = channelSums(as[p], withOnes[p])
			}
			if p == 0 {
				sumA, sumAX = sa, sax
			} else {
				sumA, sumAX = Add(sumA, sa), Add(sumAX, sax)
			}
		}
		return sumA, sumAX
	}
	statistics := func(xs []*Node) (mean, variance *Node) {
		sumX, sumX2 := sums(xs, xs)
		mean = DivScalar(sumX, float64(n))
		variance = Max(Sub(DivScalar(sumX2, float64(n)), Square(mean)), ScalarZero(g, dtype))
		return mean, variance
	}

	updateAverages := func(mean, variance *Node) {
		momentum := Scalar(g, dtype, bnMomentum)
		weight := OnePlus(weightVar.NodeValue(g))
		weightVar.SetNodeValue(weight)
		m := Min(momentum, OneMinus(Reciprocal(weight))) // debiased: a plain average over the first steps.
		update := func(v *model.Variable, batch *Node) {
			v.SetNodeValue(Add(Mul(m, v.NodeValue(g)), Mul(OneMinus(m), StopGradient(batch))))
		}
		update(meanVar, mean)
		update(varianceVar, variance)
	}
	activation := func(y *Node) *Node {
		if relu {
			return Max(y, ScalarZero(g, dtype))
		}
		return y
	}
	normalizeWith := func(mean, variance *Node) []*Node {
		a := Div(scaleVar.NodeValue(g), Sqrt(AddScalar(variance, opt.epsilon)))
		b := Sub(offsetVar.NodeValue(g), Mul(mean, a))
		ys := make([]*Node, len(xs))
		for p, x := range xs {
			ys[p] = activation(Add(Mul(x, bcast(a, x)), bcast(b, x)))
		}
		return ys
	}

	phase := model.GetGraphParamOr(scope, g, train.BatchNormalizationUpdatePhase, -1)
	switch {
	case opt.frozen: // a fixed affine map; automatic differentiation gives the scale's and offset's gradients.
		return normalizeWith(meanVar.NodeValue(g), varianceVar.NodeValue(g))
	case phase >= 0: // norm.UpdateBatchNormAverages re-estimating the averages.
		mean, variance := statistics(xs)
		updateAverages(mean, variance)
		if phase > 0 {
			return normalizeWith(meanVar.NodeValue(g), varianceVar.NodeValue(g))
		}
		return normalizeWith(mean, variance)
	case !scope.IsTraining(g):
		return normalizeWith(meanVar.NodeValue(g), varianceVar.NodeValue(g))
	}

	var mean, variance *Node
	inputs := append(slices.Clone(xs), scaleVar.NodeValue(g), offsetVar.NodeValue(g))
	ys := customvjp.ApplyMulti(inputs, func(in []*Node) ([]*Node, []customvjp.MultiGrad) {
		parts := len(in) - 2
		xs, scale, offset := in[:parts], in[parts], in[parts+1]
		mean, variance = statistics(xs)
		sigma := Sqrt(AddScalar(variance, opt.epsilon))
		a := Div(scale, sigma)
		b := Sub(offset, Mul(mean, a))
		ys := make([]*Node, parts)
		as := make([]*Node, parts) // a expanded to each part's shape, for forward and backward
		for p, x := range xs {
			as[p] = bcast(a, x)
			ys[p] = activation(Add(Mul(x, as[p]), bcast(b, x)))
		}

		// Per-channel terms of the gradient, built once for whichever gradients are requested.
		var dzs []*Node
		var sumDz, dScale, k1, k0 *Node
		terms := func(vs []*Node) {
			if dzs != nil {
				return
			}
			dzs = vs
			if relu {
				dzs = make([]*Node, parts)
				for p, v := range vs {
					dzs[p] = Where(GreaterThan(ys[p], ScalarZero(g, dtype)), v, ScalarZero(g, dtype))
				}
			}
			var sumDzX *Node
			sumDz, sumDzX = sums(dzs, xs)
			dScale = Div(Sub(sumDzX, Mul(mean, sumDz)), sigma) // Σ dz·x̂
			// dx = a·(dz − Σdz/n − x̂·Σ(dz·x̂)/n) = a·dz + k1·x + k0
			k1 = Neg(DivScalar(Div(Mul(a, dScale), sigma), float64(n)))
			k0 = Sub(Neg(DivScalar(Mul(a, sumDz), float64(n))), Mul(k1, mean))
		}
		grads := make([]customvjp.MultiGrad, len(in))
		for p := range parts {
			grads[p] = func(vs []*Node) *Node {
				terms(vs)
				x := xs[p]
				return Add(Add(Mul(dzs[p], as[p]), Mul(x, bcast(k1, x))), bcast(k0, x))
			}
		}
		grads[parts] = func(vs []*Node) *Node { terms(vs); return dScale }
		grads[parts+1] = func(vs []*Node) *Node { terms(vs); return sumDz }
		return ys, grads
	})
	updateAverages(mean, variance)
	return ys
}

// onesAndX returns [c, 2, n]: per channel, a row of ones and x's row (x is [c, ...] with n values per
// channel).
func onesAndX(x *Node) *Node {
	c := x.Shape().Dimensions[0]
	n := x.Shape().Size() / c
	ones := Ones(x.Graph(), shapes.Make(x.DType(), c, 1, n))
	return Concatenate([]*Node{ones, Reshape(x, c, 1, n)}, 1)
}

// channelSums returns Σa and Σa·x per channel (axis 0) as [c] vectors, given withOnes = onesAndX(x): both
// in one batched dot product (SIMD and parallel on the pure-Go backend, unlike its generic reductions).
//
// One DotGeneral rather than two on purpose: the pure-Go backend (compute v0.1.2) deadlocks when as many
// DotGenerals as its worker slots (2×cores) become ready at once, each waiting for a worker the others hold;
// keeping the number of concurrently-ready matrix products low keeps the models clear of it.
func channelSums(a, withOnes *Node) (sumA, sumAX *Node) {
	c := a.Shape().Dimensions[0]
	n := a.Shape().Size() / c
	s := DotGeneral(Reshape(a, c, 1, n), []int{2}, []int{0}, withOnes, []int{2}, []int{0}) // [c, 1, 2]
	s = Reshape(s, c, 2)
	return Reshape(Slice(s, AxisRange(), AxisElem(0)), c), Reshape(Slice(s, AxisRange(), AxisElem(1)), c)
}

// channelSumsGeneric is channelSums for any feature axis, with reductions.
func channelSumsGeneric(a, x *Node, featureAxis int) (sumA, sumAX *Node) {
	var axes []int
	for i := range a.Rank() {
		if i != featureAxis {
			axes = append(axes, i)
		}
	}
	return ReduceSum(a, axes...), ReduceSum(Mul(a, x), axes...)
}
