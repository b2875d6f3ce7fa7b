package trainer

import (
	"fmt"
	"path"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
)

// confusionMetric accumulates a confusion matrix on the device during evaluation, in a [K,K] variable
// (true class × predicted class), and reports accuracy from it. Keeping the counts on the device means
// evaluation never copies predictions back to the host batch by batch.
type confusionMetric struct {
	numClasses int
}

const confusionScope = "confusion"

func (m *confusionMetric) Name() string       { return "Confusion Accuracy" }
func (m *confusionMetric) ShortName() string  { return "cacc" }
func (m *confusionMetric) ScopeName() string  { return confusionScope }
func (m *confusionMetric) MetricType() string { return metric.AccuracyMetricType }

func (m *confusionMetric) variable(scope *model.Scope) *model.Variable {
	return scope.Store().Scope(path.Join("/", metric.Scope, confusionScope)).
		WithInitializer(initializer.Zero).
		VariableWithShape("counts", shapes.Make(dtypes.Int64, m.numClasses, m.numClasses)).
		SetTrainable(false)
}

func (m *confusionMetric) UpdateGraph(scope *model.Scope, labels, predictions []*graph.Node) *graph.Node {
	logits := predictions[0]
	g := logits.Graph()
	k := m.numClasses
	truth := graph.Squeeze(graph.ConvertDType(labels[0], dtypes.Int32), -1)
	pred := graph.ArgMax(logits, -1, dtypes.Int32)
	// counts[t][p] += Σ_batch onehot(t)ᵀ·onehot(p)
	truthHot := graph.OneHot(truth, k, dtypes.Float32)
	if mask := evalMask(labels); mask != nil { // padded evaluation batches: count real images only
		truthHot = graph.Mul(truthHot, graph.ExpandAxes(graph.ConvertDType(mask, dtypes.Float32), -1))
	}
	batch := graph.Einsum("bt,bp->tp", truthHot, graph.OneHot(pred, k, dtypes.Float32))
	v := m.variable(scope)
	counts := graph.Add(v.NodeValue(g), graph.ConvertDType(batch, dtypes.Int64))
	v.SetNodeValue(counts)
	c := graph.ConvertDType(counts, dtypes.Float64)
	eye := make([][]float64, k)
	for i := range eye {
		eye[i] = make([]float64, k)
		eye[i][i] = 1
	}
	diag := graph.ReduceAllSum(graph.Mul(c, graph.Const(g, eye)))
	return graph.ConvertDType(graph.Div(diag, graph.Max(graph.ReduceAllSum(c), graph.Scalar(g, dtypes.Float64, 1))), dtypes.Float32)
}

func (m *confusionMetric) PrettyPrint(value *tensors.Tensor) string {
	return fmt.Sprintf("%.2f%%", 100*tensors.ToScalar[float32](value))
}

func (m *confusionMetric) Reset(scope *model.Scope) {
	v := scope.Store().Scope(path.Join("/", metric.Scope, confusionScope)).GetVariable("counts")
	if v == nil {
		return
	}
	v.MustSetValue(tensors.FromShape(shapes.Make(dtypes.Int64, m.numClasses, m.numClasses)))
}

// read returns the accumulated matrix.
func (m *confusionMetric) read(store *model.Store) [][]int64 {
	v := store.Scope(path.Join("/", metric.Scope, confusionScope)).GetVariable("counts")
	if v == nil {
		return nil
	}
	flat := tensors.MustCopyFlatData[int64](v.MustValue())
	out := make([][]int64, m.numClasses)
	for i := range out {
		out[i] = flat[i*m.numClasses : (i+1)*m.numClasses]
	}
	return out
}

// CrossEntropy returns the classification loss: sparse softmax cross-entropy on logits, with labels
// smoothed by eps (the target is 1-eps+eps/K on the true class and eps/K elsewhere) when eps > 0. With a
// mask label (padded evaluation batches, see padGroups) it is the mean over the real images only.
func CrossEntropy(eps float64) loss.LossFn {
	return func(labels, logits []*graph.Node) *graph.Node {
		mask := evalMask(labels)
		if eps <= 0 && mask == nil {
			return loss.SparseCategoricalCrossEntropyLogits(labels, logits)
		}
		lg := logits[0]
		k := lg.Shape().Dimensions[lg.Rank()-1]
		logp := graph.LogSoftmax(lg, -1)
		y := graph.OneHot(graph.Squeeze(graph.ConvertDType(labels[0], dtypes.Int32), -1), k, lg.DType())
		target := graph.AddScalar(graph.MulScalar(y, 1-eps), eps/float64(k))
		perImage := graph.Neg(graph.ReduceSum(graph.Mul(target, logp), -1))
		if mask == nil {
			return graph.ReduceAllMean(perImage)
		}
		return maskedMean(perImage, mask)
	}
}

// maskedMean is the mean of v [batch] over the entries where mask is true (0 when none is).
func maskedMean(v, mask *graph.Node) *graph.Node {
	m := graph.ConvertDType(mask, v.DType())
	return graph.Div(graph.ReduceAllSum(graph.Mul(v, m)), graph.Max(graph.ReduceAllSum(m), graph.ScalarOne(v.Graph(), v.DType())))
}

// accuracy is the fraction of images whose largest logit is the true class (real images only, with a
// mask label).
func accuracy(labels, predictions []*graph.Node) *graph.Node {
	logits := predictions[0]
	truth := graph.Squeeze(graph.ConvertDType(labels[0], dtypes.Int32), -1)
	hit := graph.ConvertDType(graph.Equal(graph.ArgMax(logits, -1, dtypes.Int32), truth), dtypes.Float32)
	if mask := evalMask(labels); mask != nil {
		return maskedMean(hit, mask)
	}
	return graph.ReduceAllMean(hit)
}

// epochMean is a mean over an epoch of a per-batch value, weighted by batch size, kept in variables with
// fixed names (GoMLX's MeanMetric names its variables with a random UUID, so a run resumed in another
// process could not find them). Resuming mid-epoch thus continues the same mean.
type epochMean struct {
	name, scope string
	fn          func(labels, predictions []*graph.Node) *graph.Node
}

func (m *epochMean) Name() string       { return m.name }
func (m *epochMean) ShortName() string  { return m.scope }
func (m *epochMean) ScopeName() string  { return m.scope }
func (m *epochMean) MetricType() string { return m.scope }

func (m *epochMean) vars(scope *model.Scope) (total, weight *model.Variable) {
	s := scope.Store().Scope(path.Join("/", metric.Scope, m.scope)).WithInitializer(initializer.Zero)
	total = s.VariableWithShape("total", shapes.Make(dtypes.Float64)).SetTrainable(false)
	weight = s.VariableWithShape("weight", shapes.Make(dtypes.Float64)).SetTrainable(false)
	return
}

func (m *epochMean) UpdateGraph(scope *model.Scope, labels, predictions []*graph.Node) *graph.Node {
	g := predictions[0].Graph()
	value := graph.ConvertDType(m.fn(labels, predictions), dtypes.Float64)
	n := graph.Scalar(g, dtypes.Float64, float64(predictions[0].Shape().Dimensions[0]))
	if mask := evalMask(labels); mask != nil { // a padded evaluation batch weighs its real images
		n = graph.ReduceAllSum(graph.ConvertDType(mask, dtypes.Float64))
	}
	tv, wv := m.vars(scope)
	total := graph.Add(tv.NodeValue(g), graph.Mul(value, n))
	weight := graph.Add(wv.NodeValue(g), n)
	tv.SetNodeValue(total)
	wv.SetNodeValue(weight)
	return graph.ConvertDType(graph.Div(total, weight), dtypes.Float32)
}

func (m *epochMean) PrettyPrint(value *tensors.Tensor) string {
	return fmt.Sprintf("%.4f", tensors.ToScalar[float32](value))
}

func (m *epochMean) Reset(scope *model.Scope) {
	s := scope.Store().Scope(path.Join("/", metric.Scope, m.scope))
	for _, name := range []string{"total", "weight"} {
		if v := s.GetVariable(name); v != nil {
			v.MustSetValue(tensors.FromScalar(0.0))
		}
	}
}
