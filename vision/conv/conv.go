// Package conv provides 2-D convolutions that are fast on every GoMLX backend.
//
// On XLA (CUDA or CPU) it emits GoMLX's native convolution ([graph.Convolve]), which XLA lowers to cuDNN or
// its own kernels. On GoMLX's pure-Go backend, whose native ConvGeneral is a direct loop (~0.5 GFLOP/s), it
// emits a "lowered" convolution instead: the k×k shifted copies of the input are laid side by side with a
// single Concatenate, and the convolution becomes one matrix product that runs on the backend's SIMD MatMul.
// The lowered form has hand-written gradients (see lowered.go), so its backward pass is also two matrix
// products instead of the slices, pads and transposes that automatic differentiation would produce.
//
// Tensors are NHWC with HWIO kernels by default, like GoMLX's layers.Convolution. The pure-Go lowering works
// natively in the [CNHW] layout ([channels, batch, height, width]), where every copy it makes is a large
// contiguous block and every matrix product consumes its operands without transposition; NHWC inputs are
// transposed to CNHW and back around it. Models that want the fastest CPU path keep their activations in
// [PreferredLayout] (see package vision/resnet).
//
// The entry points are [Conv2D] (NHWC, native or lowered by backend), [Apply] for the full set of options,
// and the layer builder [New], which creates the kernel (He-normal) and bias in a model.Scope.
package conv

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// Padding of a convolution.
type Padding int

const (
	// Same pads (k-1)/2 before and k/2 after each spatial axis, GoMLX's (and PyTorch's padding=k//2)
	// convention: the output size is ceil(size/stride).
	Same Padding = iota
	// Valid does not pad: the output size is (size-k)/stride + 1.
	Valid
)

func (p Padding) String() string {
	switch p {
	case Same:
		return "same"
	case Valid:
		return "valid"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// Layout of image tensors.
type Layout int

const (
	// NHWC is [batch, height, width, channels], GoMLX's and TensorFlow's default, and what cuDNN prefers.
	NHWC Layout = iota
	// CNHW is [channels, batch, height, width]: the layout the pure-Go lowering works in without copies.
	CNHW
)

func (l Layout) String() string {
	switch l {
	case NHWC:
		return "NHWC"
	case CNHW:
		return "CNHW"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// ChannelsAxis returns the channels axis of a rank-4 tensor in this layout (3 for NHWC, 0 for CNHW).
func (l Layout) ChannelsAxis() int {
	if l == CNHW {
		return 0
	}
	return 3
}

// BatchAxis returns the batch axis of a rank-4 tensor in this layout (0 for NHWC, 1 for CNHW).
func (l Layout) BatchAxis() int {
	if l == CNHW {
		return 1
	}
	return 0
}

// SpatialAxes returns the height and width axes of a rank-4 tensor in this layout.
func (l Layout) SpatialAxes() (int, int) {
	if l == CNHW {
		return 2, 3
	}
	return 1, 2
}

// FromNHWC transposes an NHWC tensor to this layout (a no-op for NHWC).
func (l Layout) FromNHWC(x *Node) *Node {
	if l == CNHW {
		return TransposeAllAxes(x, 3, 0, 1, 2)
	}
	return x
}

// ToNHWC transposes a tensor in this layout to NHWC (a no-op for NHWC).
func (l Layout) ToNHWC(x *Node) *Node {
	if l == CNHW {
		return TransposeAllAxes(x, 1, 2, 3, 0)
	}
	return x
}

// Impl selects how a convolution is computed.
type Impl int

const (
	// Auto uses Lowered on the pure-Go backend and Native elsewhere.
	Auto Impl = iota
	// Native uses the backend's ConvGeneral through graph.Convolve.
	Native
	// Lowered uses shifted copies and one matrix product, with hand-written gradients.
	Lowered
)

func (i Impl) String() string {
	switch i {
	case Auto:
		return "auto"
	case Native:
		return "native"
	case Lowered:
		return "lowered"
	}
	return fmt.Sprintf("Impl(%d)", int(i))
}

// Resolve returns the implementation Auto stands for on backend b.
func (i Impl) Resolve(b compute.Backend) Impl {
	if i != Auto {
		return i
	}
	if platform.IsPureGo(b) {
		return Lowered
	}
	return Native
}

// PreferredLayout is the activation layout that convolutions are fastest in on backend b: CNHW on the
// pure-Go backend, NHWC elsewhere.
func PreferredLayout(b compute.Backend) Layout {
	if platform.IsPureGo(b) {
		return CNHW
	}
	return NHWC
}

// Config describes one 2-D convolution. The zero value is a stride-1 Same convolution of NHWC tensors with
// the implementation chosen by backend.
type Config struct {
	Stride  int // 0 means 1.
	Padding Padding
	Layout  Layout
	Impl    Impl
}

// Conv2D convolves the NHWC image batch x with the HWIO kernel ([k, k, inChannels, outChannels]), using
// the native convolution on XLA and the lowered one on the pure-Go backend.
func Conv2D(x, kernel *Node, stride int, padding Padding) *Node {
	return Apply(x, kernel, Config{Stride: stride, Padding: padding})
}

// Apply convolves x (in cfg.Layout) with the HWIO kernel ([k, k, inChannels, outChannels]). The output is
// in the same layout as x. Only square kernels and equal strides on both axes are supported.
func Apply(x, kernel *Node, cfg Config) *Node {
	stride := cfg.Stride
	if stride == 0 {
		stride = 1
	}
	checkShapes(x, kernel, stride, cfg)
	switch cfg.Impl.Resolve(x.Graph().Backend()) {
	case Native:
		return native(x, kernel, stride, cfg.Padding, cfg.Layout)
	default:
		if cfg.Layout == NHWC {
			return CNHW.ToNHWC(loweredCNHW(CNHW.FromNHWC(x), kernel, stride, cfg.Padding))
		}
		return loweredCNHW(x, kernel, stride, cfg.Padding)
	}
}

func checkShapes(x, kernel *Node, stride int, cfg Config) {
	if x.Rank() != 4 || kernel.Rank() != 4 {
		exceptions.Panicf("conv: x (%s) and kernel (%s) must both have rank 4", x.Shape(), kernel.Shape())
	}
	kd := kernel.Shape().Dimensions
	if kd[0] != kd[1] {
		exceptions.Panicf("conv: only square kernels are supported, got kernel %s", kernel.Shape())
	}
	if c := x.Shape().Dimensions[cfg.Layout.ChannelsAxis()]; c != kd[2] {
		exceptions.Panicf("conv: x %s (%s) has %d channels but kernel %s expects %d", x.Shape(), cfg.Layout, c,
			kernel.Shape(), kd[2])
	}
	if stride < 1 {
		exceptions.Panicf("conv: invalid stride %d", stride)
	}
	if x.DType() != kernel.DType() {
		exceptions.Panicf("conv: x dtype %s != kernel dtype %s", x.DType(), kernel.DType())
	}
	hAxis, wAxis := cfg.Layout.SpatialAxes()
	for _, a := range []int{hAxis, wAxis} {
		if OutputSize(x.Shape().Dimensions[a], kd[0], stride, cfg.Padding) < 1 {
			exceptions.Panicf("conv: input %s too small for a %dx%d %s kernel", x.Shape(), kd[0], kd[0], cfg.Padding)
		}
	}
}

// Pads returns the padding before and after a spatial axis for a kernel of size k.
func Pads(k int, padding Padding) (before, after int) {
	if padding == Valid {
		return 0, 0
	}
	return (k - 1) / 2, k / 2
}

// OutputSize returns the size of a spatial axis of size n after a convolution with kernel size k.
func OutputSize(n, k, stride int, padding Padding) int {
	pl, ph := Pads(k, padding)
	return (n+pl+ph-k)/stride + 1
}

// native is graph.Convolve with the axes of the given layout and an HWIO kernel.
func native(x, kernel *Node, stride int, padding Padding, layout Layout) *Node {
	b := Convolve(x, kernel).StridePerAxis(stride, stride)
	if layout == CNHW {
		b.AxesConfig(ConvolveAxesConfig{
			InputBatch: 1, InputChannels: 0, InputSpatial: []int{2, 3},
			KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
			OutputBatch: 1, OutputChannels: 0, OutputSpatial: []int{2, 3},
		})
	}
	if padding == Same {
		b.PadSame()
	} else {
		b.NoPadding()
	}
	return b.Done()
}
