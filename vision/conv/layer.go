package conv

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Names of the variables a layer creates in its scope.
const (
	WeightsName = "weights" // [k, k, inChannels, outChannels] (HWIO), He-normal.
	BiasesName  = "biases"  // [outChannels], zeros.
)

// LayerBuilder configures a convolution layer; create it with [New] and finish it with [LayerBuilder.Done].
type LayerBuilder struct {
	scope       *model.Scope
	x           *Node
	outChannels int
	cfg         Config
	kernel      int
	bias        bool
	compute     dtypes.DType // InvalidDType: compute in x's dtype
}

// New starts a 2-D convolution layer on x with outChannels output channels. Its variables are created
// directly in scope (no sub-scope is added): "weights" [k, k, in, out] initialized He-normal
// (std = sqrt(2/(k·k·in))) and, unless NoBias is set, "biases" [out] initialized to zero.
//
// Defaults: 3×3 kernel, stride 1, Same padding, NHWC layout, implementation chosen by backend.
//
//	y := conv.New(scope.In("conv1"), x, 64).Kernel(3).Stride(2).NoBias().Done()
func New(scope *model.Scope, x *Node, outChannels int) *LayerBuilder {
	return &LayerBuilder{scope: scope, x: x, outChannels: outChannels, kernel: 3, bias: true,
		cfg: Config{Stride: 1, Padding: Same}}
}

// Kernel sets the (square) kernel size. Default 3.
func (l *LayerBuilder) Kernel(k int) *LayerBuilder { l.kernel = k; return l }

// Stride sets the stride on both spatial axes. Default 1.
func (l *LayerBuilder) Stride(s int) *LayerBuilder { l.cfg.Stride = s; return l }

// Padding sets Same (default) or Valid padding.
func (l *LayerBuilder) Padding(p Padding) *LayerBuilder { l.cfg.Padding = p; return l }

// Layout sets the layout of x and of the output. Default NHWC.
func (l *LayerBuilder) Layout(layout Layout) *LayerBuilder { l.cfg.Layout = layout; return l }

// Impl forces the native or lowered implementation. Default Auto.
func (l *LayerBuilder) Impl(impl Impl) *LayerBuilder { l.cfg.Impl = impl; return l }

// NoBias omits the bias (use it when a normalization follows).
func (l *LayerBuilder) NoBias() *LayerBuilder { l.bias = false; return l }

// UseBias sets whether to add a learned bias. Default true.
func (l *LayerBuilder) UseBias(useBias bool) *LayerBuilder { l.bias = useBias; return l }

// ComputeDType makes the convolution itself run in dt (e.g. dtypes.BFloat16) while the weights stay in
// x's dtype: x and the weights are converted on the way in and the result back on the way out. This is
// mixed precision: on a GPU's tensor cores a bf16 convolution is several times faster, and the float32
// master weights still accumulate small updates exactly. Gradients flow through the conversions.
func (l *LayerBuilder) ComputeDType(dt dtypes.DType) *LayerBuilder { l.compute = dt; return l }

// Done creates (or reuses) the variables and returns the convolved x.
func (l *LayerBuilder) Done() *Node {
	if l.outChannels <= 0 || l.kernel <= 0 {
		exceptions.Panicf("conv.New: invalid outChannels=%d or kernel=%d", l.outChannels, l.kernel)
	}
	if l.x.Rank() != 4 {
		exceptions.Panicf("conv.New: x must be rank 4 (%s), got %s", l.cfg.Layout, l.x.Shape())
	}
	g := l.x.Graph()
	dtype := l.x.DType()
	inChannels := l.x.Shape().Dimensions[l.cfg.Layout.ChannelsAxis()]
	kernelShape := shapes.Make(dtype, l.kernel, l.kernel, inChannels, l.outChannels)
	kernelVar := l.scope.WithInitializer(initializer.HeFn(l.scope)).VariableWithShape(WeightsName, kernelShape)
	var y *Node
	if l.compute != dtypes.InvalidDType && l.compute != dtype {
		y = ConvertDType(Apply(ConvertDType(l.x, l.compute), ConvertDType(kernelVar.NodeValue(g), l.compute), l.cfg), dtype)
	} else {
		y = Apply(l.x, kernelVar.NodeValue(g), l.cfg)
	}
	if l.bias {
		biasVar := l.scope.WithInitializer(initializer.Zero).VariableWithShape(BiasesName, shapes.Make(dtype, l.outChannels))
		dims := []int{1, 1, 1, 1}
		dims[l.cfg.Layout.ChannelsAxis()] = l.outChannels
		y = Add(y, Reshape(biasVar.NodeValue(g), dims...))
	}
	return y
}
