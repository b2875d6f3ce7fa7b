package resnet

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train"
)

// BatchNormImpl selects how batch normalization is computed.
type BatchNormImpl int

const (
	// BatchNormAuto is GoMLX's norm.BatchNorm on XLA (the fused op, whose gradient is exact) and
	// BatchNormExact on the pure-Go backend.
	BatchNormAuto BatchNormImpl = iota

	// BatchNormGoMLX is GoMLX's norm.BatchNorm everywhere, with UseBackendInference(false) on the pure-Go
	// backend. Beware: that differentiable path (GoMLX v0.28.2) stops the gradient at the batch mean and
	// variance, so its training gradient is not batch norm's, and training is visibly noisier than on XLA.
	BatchNormGoMLX

	// BatchNormExact is batch normalization written with plain graph ops, differentiated through the batch
	// statistics (the gradient of XLA's fused op and of PyTorch). It uses the same variables, defaults
	// (momentum 0.99 with GoMLX's warm-up debiasing, epsilon 1e-3) and inference path as norm.BatchNorm, and
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
	bnMomentum = 0.99 // norm.BatchNorm's default.
	bnEpsilon  = 1e-3 // norm.BatchNorm's default.
)

// batchNorm normalizes x over all axes but featureAxis, with variables under scope/batch_normalization.
func (n *net) batchNorm(scope *model.Scope, x *Node, featureAxis int) *Node {
	impl := n.bnImpl
	if impl == BatchNormAuto {
		impl = BatchNormGoMLX
		if n.pureGo {
			impl = BatchNormExact
		}
	}
	if impl == BatchNormGoMLX {
		return norm.BatchNorm(scope, x, featureAxis).Momentum(bnMomentum).Epsilon(bnEpsilon).
			UseBackendInference(!n.pureGo).Done()
	}
	return exactBatchNorm(scope, x, featureAxis)
}

// exactBatchNorm is batch normalization with the gradient flowing through the batch statistics; its
// variables and moving-average updates mirror norm.BatchNorm's so that the two are interchangeable.
func exactBatchNorm(scope *model.Scope, x *Node, featureAxis int) *Node {
	g := x.Graph()
	dtype := x.DType()
	featureAxis = MustAdjustAxis(featureAxis, x)
	c := x.Shape().Dimensions[featureAxis]
	scope.Store().RootScope().SetParam(norm.AveragesUpdatesTriggerParam, true)
	scope = scope.In(norm.BatchNormalizationScopeName)

	vs := shapes.Make(dtype, c)
	scale := scope.WithInitializer(initializer.One).VariableWithShape("scale", vs).SetTrainable(true).NodeValue(g)
	offset := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vs).SetTrainable(true).NodeValue(g)
	meanVar := scope.WithInitializer(initializer.Zero).VariableWithShape("mean", vs).SetTrainable(false)
	varianceVar := scope.WithInitializer(initializer.One).VariableWithShape("variance", vs).SetTrainable(false)
	weightVar := scope.WithInitializer(initializer.Zero).VariableWithShape("avg_weight", vs).SetTrainable(false)

	dims := make([]int, x.Rank())
	var reduceAxes []int
	for i := range dims {
		dims[i] = 1
		if i != featureAxis {
			reduceAxes = append(reduceAxes, i)
		}
	}
	dims[featureAxis] = c
	batchStats := func() (mean, variance *Node) {
		mean = ReduceAndKeep(x, ReduceMean, reduceAxes...)
		variance = ReduceAndKeep(Square(Sub(x, mean)), ReduceMean, reduceAxes...)
		return
	}
	updateAverages := func(mean, variance *Node) {
		momentum := Scalar(g, dtype, bnMomentum)
		weight := OnePlus(weightVar.NodeValue(g))
		weightVar.SetNodeValue(weight)
		m := Min(momentum, OneMinus(Reciprocal(weight))) // debiased: a plain average over the first steps.
		update := func(v *model.Variable, batch *Node) {
			batch = StopGradient(Reshape(batch, c))
			v.SetNodeValue(Add(Mul(m, v.NodeValue(g)), Mul(OneMinus(m), batch)))
		}
		update(meanVar, mean)
		update(varianceVar, variance)
	}

	var mean, variance *Node
	phase := model.GetGraphParamOr(scope, g, train.BatchNormalizationUpdatePhase, -1)
	switch {
	case phase >= 0: // norm.UpdateBatchNormAverages re-estimating the averages.
		mean, variance = batchStats()
		updateAverages(mean, variance)
		if phase > 0 {
			mean, variance = Reshape(meanVar.NodeValue(g), dims...), Reshape(varianceVar.NodeValue(g), dims...)
		}
	case scope.IsTraining(g):
		mean, variance = batchStats()
		updateAverages(mean, variance)
	default:
		mean, variance = Reshape(meanVar.NodeValue(g), dims...), Reshape(varianceVar.NodeValue(g), dims...)
	}
	// Sqrt and Div rather than Rsqrt: GoMLX v0.28.2 has no gradient for Rsqrt.
	normalized := Div(Sub(x, mean), Sqrt(AddScalar(variance, bnEpsilon)))
	return Add(Mul(normalized, Reshape(scale, dims...)), Reshape(offset, dims...))
}
