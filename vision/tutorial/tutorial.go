// Package tutorial is the course's ResNet written out plainly, one idea per function, for chapter 4 to
// show with its source: batch normalization, a residual block, a small ResNet, the loss, the gradient
// with graph.Gradient, an SGD update, and a training step.
//
// It computes the same function as the library's vision/resnet ResNet-20 (at any width): the same layers,
// with variables of the same names and shapes, so a store of weights serves both, and the same loss and
// gradients on the same batch (tutorial_test.go checks it). The library's version is faster on the
// pure-Go backend (channels-first activations, hand-written batch-norm gradients, batches split across
// cores) and adds the ResNet-18/34/50 family, plain twins and mixed precision; this one is for reading.
//
// Activations here are NHWC: [batch, height, width, channels], the layout of the images.
package tutorial

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gonbgpu/gonbgpu/vision/conv"
)

// Epsilon and Momentum of batch normalization: the library's values (vision/resnet).
const (
	bnEpsilon  = 1e-3
	bnMomentum = 0.9
)

// BatchNorm normalizes each channel of x [batch, height, width, channels]. In training it uses the
// batch's mean and variance (and the gradient flows through them), and moves the running averages
// towards them; at inference it uses the running averages. A learned scale γ and offset β per channel
// follow: y = γ·(x − μ)/√(σ² + ε) + β.
func BatchNorm(scope *model.Scope, x *Node) *Node {
	g := x.Graph()
	c := x.Shape().Dimensions[3]
	scope = scope.In("batch_normalization") // the variable names GoMLX's batch norm uses
	vec := shapes.Make(x.DType(), c)
	gamma := scope.WithInitializer(initializer.One).VariableWithShape("scale", vec)
	beta := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vec)
	runMean := scope.WithInitializer(initializer.Zero).VariableWithShape("mean", vec).SetTrainable(false)
	runVar := scope.WithInitializer(initializer.One).VariableWithShape("variance", vec).SetTrainable(false)

	var mean, variance *Node
	if scope.IsTraining(g) {
		mean = ReduceMean(x, 0, 1, 2)                                             // [c]
		variance = ReduceMean(Square(Sub(x, Reshape(mean, 1, 1, 1, c))), 0, 1, 2) // [c], biased
		// Running averages for inference; the update is not part of the gradient.
		runMean.SetNodeValue(Add(MulScalar(runMean.NodeValue(g), bnMomentum), MulScalar(StopGradient(mean), 1-bnMomentum)))
		runVar.SetNodeValue(Add(MulScalar(runVar.NodeValue(g), bnMomentum), MulScalar(StopGradient(variance), 1-bnMomentum)))
	} else {
		mean, variance = runMean.NodeValue(g), runVar.NodeValue(g)
	}
	// Sqrt then Div rather than Rsqrt: GoMLX has no gradient for Rsqrt.
	scale := Div(gamma.NodeValue(g), Sqrt(AddScalar(variance, bnEpsilon)))
	return Add(Mul(Sub(x, Reshape(mean, 1, 1, 1, c)), Reshape(scale, 1, 1, 1, c)), Reshape(beta.NodeValue(g), 1, 1, 1, c))
}

// ConvBN is a k×k convolution without bias (batch norm's offset replaces it) followed by batch norm, in
// the sub-scopes convName and bnName.
func ConvBN(scope *model.Scope, convName, bnName string, x *Node, channels, k, stride int) *Node {
	y := conv.New(scope.In("%s", convName), x, channels).Kernel(k).Stride(stride).NoBias().Done()
	return BatchNorm(scope.In("%s", bnName), y)
}

// ReLU is max(x, 0).
func ReLU(x *Node) *Node { return Max(x, ScalarZero(x.Graph(), x.DType())) }

// ResidualBlock is the basic block of He et al. (2015): two 3×3 convolutions with batch norm, whose
// output is added to the block's input (the skip connection) before the last ReLU. When the block
// changes the shape (stride 2, more channels), a 1×1 convolution projects the input to match.
func ResidualBlock(scope *model.Scope, x *Node, channels, stride int) *Node {
	y := ReLU(ConvBN(scope, "conv1", "bn1", x, channels, 3, stride))
	y = ConvBN(scope, "conv2", "bn2", y, channels, 3, 1)
	shortcut := x
	if stride != 1 || x.Shape().Dimensions[3] != channels {
		shortcut = ConvBN(scope.In("shortcut"), "conv", "bn", x, channels, 1, stride)
	}
	return ReLU(Add(y, shortcut))
}

// ResNet20 is the CIFAR ResNet-20 of He et al. for images [batch, height, width, channels]: a 3×3
// convolution, three stages of three residual blocks with 16, 32 and 64 channels (times width; the
// second and third stages halve the image), global average pooling and a dense layer to the logits
// [batch, classes].
func ResNet20(scope *model.Scope, images *Node, width float64, classes int) *Node {
	ch := func(c int) int { return max(1, int(math.Round(float64(c)*width))) }
	x := ReLU(ConvBN(scope.In("stem"), "conv", "bn", images, ch(16), 3, 1))
	for stage, channels := range []int{16, 32, 64} {
		stageScope := scope.In("stage%d", stage+1) // a scope may be entered once per graph
		for block := range 3 {
			stride := 1
			if block == 0 && stage > 0 {
				stride = 2
			}
			x = ResidualBlock(stageScope.In("block%d", block), x, ch(channels), stride)
		}
	}
	x = ReduceMean(x, 1, 2) // global average pooling: [batch, channels]
	return layers.Dense(scope.In("head"), x, true, classes)
}

// Loss is the mean cross-entropy of the logits [batch, classes] against the labels (class indices,
// [batch] or [batch, 1]): −log softmax(logits)[label], averaged over the batch.
func Loss(logits, labels *Node) *Node {
	classes := logits.Shape().Dimensions[1]
	labels = Reshape(ConvertDType(labels, dtypes.Int32), -1)
	oneHot := OneHot(labels, classes, logits.DType())
	return ReduceAllMean(Neg(ReduceSum(Mul(oneHot, LogSoftmax(logits, -1)), -1)))
}

// Model builds the logits of a network from images: ResNet20 with a width, or the library's builder.
type Model func(scope *model.Scope, images *Node) *Node

// ResNet20Model is ResNet20 at a width, for classes, as a Model.
func ResNet20Model(width float64, classes int) Model {
	return func(scope *model.Scope, images *Node) *Node { return ResNet20(scope, images, width, classes) }
}

// Gradients returns ∂loss/∂w for every trainable variable w the loss's graph uses, in the order of vars:
// GoMLX differentiates the graph backwards from the loss (reverse-mode automatic differentiation).
func Gradients(scope *model.Scope, loss *Node) (vars []*model.Variable, grads []*Node) {
	g := loss.Graph()
	var weights []*Node
	for v := range scope.Store().IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			weights = append(weights, v.NodeValue(g))
		}
	}
	return vars, Gradient(loss, weights...)
}

// TrainStep builds one step of plain SGD on a batch: the logits, the loss, its gradients, and
// w ← w − lr·∂L/∂w for every trainable variable. It returns the loss (before the update) and the batch's
// accuracy.
//
// It marks the graph as training first, before any variable is read: on a backend that prefers
// constants for variables (the pure-Go one) GoMLX would otherwise bake the variables' current values into
// the compiled graph, and every later step would start again from the first step's weights.
func TrainStep(scope *model.Scope, net Model, lr float64, images, labels *Node) (loss, accuracy *Node) {
	g := images.Graph()
	scope.SetTraining(g, true)
	logits := net(scope, images)
	loss = Loss(logits, labels)
	vars, grads := Gradients(scope, loss)
	for i, v := range vars {
		v.SetNodeValue(Sub(v.NodeValue(g), MulScalar(grads[i], lr)))
	}
	return loss, Accuracy(logits, labels)
}

// Accuracy is the fraction of rows of logits whose largest entry is at the label.
func Accuracy(logits, labels *Node) *Node {
	pred := ArgMax(logits, -1, dtypes.Int32)
	labels = Reshape(ConvertDType(labels, dtypes.Int32), -1)
	return ReduceAllMean(ConvertDType(Equal(pred, labels), logits.DType()))
}

// Predict builds the logits at inference (batch norm on its running averages).
//
// The graph is not a training one, so on the pure-Go backend GoMLX would embed the variables' values as
// constants when it builds it: an evaluation compiled once would score those weights forever. Reading
// every variable once while the graph is briefly marked as training makes them graph parameters, read
// afresh at each call.
func Predict(scope *model.Scope, net Model, images *Node) *Node {
	g := images.Graph()
	scope.SetTraining(g, true)
	for v := range scope.Store().IterVariables() {
		if v.HasValue() {
			v.NodeValue(g)
		}
	}
	scope.SetTraining(g, false)
	return net(scope, images)
}
