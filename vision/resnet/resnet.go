// Package resnet builds the ResNet family for small images (Fashion-MNIST 28×28×1, CIFAR 32×32×3) in GoMLX:
// ResNet-18/34 (basic blocks) and ResNet-50 (bottleneck blocks) with the small-image stem d2l uses (one 3×3
// stride-1 convolution, no max-pool), the CIFAR ResNet-20/32/56 of He et al. (3 stages of 16/32/64 channels,
// 3/5/9 basic blocks each), a width multiplier, and "plain" twins of each: the same layers without the skip
// connections, for the vanishing-gradient chapter. Builder.ImageNetStem gives ResNet-18/34/50 torchvision's
// ImageNet stem instead (7×7 stride-2 convolution and max-pool), whose weights package vision/pretrained
// imports.
//
//	logits := resnet.New("resnet20").Width(0.5).Plain(true).NumClasses(10).Build(scope, images)
//
// images is [batch, height, width, channels] float32; logits is [batch, numClasses].
//
// Convolutions go through package vision/conv: native on XLA, lowered to matrix products on the pure-Go
// backend, where the network also keeps its activations in the CNHW layout (conv.PreferredLayout). Batch
// normalization is GoMLX's norm.BatchNorm in training mode, with UseBackendInference(false) on the pure-Go
// backend (which has no fused batch-norm op); at inference it uses the moving averages.
//
// # Scope names
//
// Every layer has its own scope, so that per-layer statistics (e.g. gradient norms) can be grouped by the
// path prefix of the variables. Under the scope given to Build:
//
//	stem/conv/weights                            the first 3×3 (ImageNet stem: 7×7) convolution
//	stem/bn/batch_normalization/{scale,offset,…} its batch norm
//	stage<s>/block<b>/conv<i>/weights            the i-th convolution (1-based) of block b (0-based) of
//	stage<s>/block<b>/bn<i>/batch_normalization/…   stage s (1-based), and its batch norm;
//	                                             basic blocks have conv1, conv2; bottlenecks conv1..conv3
//	stage<s>/block<b>/shortcut/conv/weights      the 1×1 projection of the skip connection, where the shape
//	stage<s>/block<b>/shortcut/bn/…              changes (residual models only)
//	head/dense/{weights,biases}                  the classifier after global average pooling
//
// Batch-norm variables keep GoMLX's "batch_normalization" sub-scope so that norm.UpdateBatchNormAverages
// and norm.ResetBatchNormWeights find them; "mean", "variance" and "avg_weight" there are not trainable.
// Convolutions followed by batch norm have no bias.
package resnet

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors/images"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/vision/conv"
)

type blockKind int

const (
	basic blockKind = iota
	bottleneck
)

// spec describes one architecture at width 1.
type spec struct {
	block  blockKind
	stem   int   // stem output channels
	widths []int // per stage: basic blocks' channels, or bottlenecks' inner width (output is 4×)
	blocks []int // blocks per stage
}

var specs = map[string]spec{
	"resnet18": {basic, 64, []int{64, 128, 256, 512}, []int{2, 2, 2, 2}},
	"resnet34": {basic, 64, []int{64, 128, 256, 512}, []int{3, 4, 6, 3}},
	"resnet50": {bottleneck, 64, []int{64, 128, 256, 512}, []int{3, 4, 6, 3}},
	"resnet20": {basic, 16, []int{16, 32, 64}, []int{3, 3, 3}},
	"resnet32": {basic, 16, []int{16, 32, 64}, []int{5, 5, 5}},
	"resnet56": {basic, 16, []int{16, 32, 64}, []int{9, 9, 9}},
}

// The models a run trains when none is named. On a GPU, ResNet-18; on the CPU the CIFAR-style ResNet-20,
// which needs more than ten times fewer multiply-adds per image, so that an epoch of Fashion-MNIST on
// the pure-Go backend takes minutes rather than hours.
const (
	DefaultGPUModel = "resnet18"
	DefaultCPUModel = "resnet20"
)

// DefaultModel is the model for a run on backend b when none is named: [DefaultGPUModel] on XLA on CUDA,
// else [DefaultCPUModel]. `gonbgpu train`, `gonbgpu bench`, vision/recipe and the notebooks all take it
// from here.
func DefaultModel(b compute.Backend) string {
	if platform.IsCUDA(b) {
		return DefaultGPUModel
	}
	return DefaultCPUModel
}

// DefaultModelHelp says what [DefaultModel] picks, for a flag's help: "resnet18 on a GPU, resnet20 on the CPU".
func DefaultModelHelp() string {
	return DefaultGPUModel + " on a GPU, " + DefaultCPUModel + " on the CPU"
}

// Models returns the valid model names.
func Models() []string {
	return []string{"resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "resnet56"}
}

// Builder configures a ResNet; create it with [New].
type Builder struct {
	model      string
	width      float64
	plain      bool
	numClasses int
	impl       conv.Impl
	layout     *conv.Layout
	bnImpl     BatchNormImpl
	compute    dtypes.DType
	parts      int

	// Options for torchvision's (ImageNet) ResNets, as package vision/pretrained imports them.
	imageNetStem   bool
	bnEpsilon      float64 // 0: bnEpsilon
	frozenBN       bool
	freezeBackbone bool
	inputSize      int
}

// New starts configuring the model with the given name (see [Models]), at width 1, with skip connections,
// for 10 classes.
func New(modelName string) *Builder {
	return &Builder{model: strings.ToLower(strings.TrimSpace(modelName)), width: 1, numClasses: 10}
}

// Width multiplies every layer's channel count (rounded, at least 1). Default 1.
func (b *Builder) Width(w float64) *Builder { b.width = w; return b }

// Plain removes the skip connections (and their projections), leaving the same stack of layers.
func (b *Builder) Plain(plain bool) *Builder { b.plain = plain; return b }

// NumClasses sets the number of output logits. Default 10.
func (b *Builder) NumClasses(n int) *Builder { b.numClasses = n; return b }

// ConvImpl forces the convolution implementation (conv.Native or conv.Lowered). Default conv.Auto.
func (b *Builder) ConvImpl(impl conv.Impl) *Builder { b.impl = impl; return b }

// BatchNorm selects the batch-normalization implementation. Default BatchNormAuto: GoMLX's fused op on
// XLA on one device, BatchNormExact on the pure-Go backend and under data parallelism.
func (b *Builder) BatchNorm(impl BatchNormImpl) *Builder { b.bnImpl = impl; return b }

// Layout forces the layout of the activations inside the network. Default conv.PreferredLayout of the
// backend: CNHW on the pure-Go backend, NHWC elsewhere. The input images are always NHWC.
func (b *Builder) Layout(l conv.Layout) *Builder { b.layout = &l; return b }

// ComputeDType runs every convolution in dt (e.g. dtypes.BFloat16, mixed precision) with float32 weights,
// batch norm and logits; see conv.LayerBuilder.ComputeDType. Default: the images' dtype.
func (b *Builder) ComputeDType(dt dtypes.DType) *Builder { b.compute = dt; return b }

// BatchParts splits each batch into n equal parts inside the graph, on the pure-Go backend with the exact
// batch norm (elsewhere it is ignored). The parts share the weights and their batch-norm statistics are the
// whole batch's, so the model computes the same function and the same gradients (up to float rounding);
// what changes is speed: that backend runs independent operations concurrently but each elementwise
// operation on one core, so two parts keep two cores busy where one batch leaves one idle between matrix
// products. Measured on 2 cores, ResNet-20 at batch 128: ~90 img/s in one part, ~120 in two.
// Default 0: automatic, as many parts as usable CPU cores (GOMAXPROCS, at most 4) that divide the batch,
// each of at least 16 images. 1 turns it off.
func (b *Builder) BatchParts(n int) *Builder { b.parts = n; return b }

// ImageNetStem replaces the small-image stem (one 3×3 stride-1 convolution) with torchvision's ImageNet
// stem: a 7×7 stride-2 convolution (padding 3), batch norm, ReLU and a 3×3 stride-2 max-pool (padding 1),
// so that images are 4× smaller when they reach the first stage. With it, ResNet-18/34/50 have exactly
// torchvision's layers (bottlenecks stride in their 3×3 convolution, "ResNet v1.5"), which is what lets
// package vision/pretrained load torchvision's weights one to one. Only for resnet18, resnet34 and resnet50.
func (b *Builder) ImageNetStem(on bool) *Builder { b.imageNetStem = on; return b }

// BatchNormEpsilon sets the epsilon added to the variance in every batch norm. Default 1e-3 (GoMLX's);
// PyTorch uses 1e-5, and weights trained there need it.
func (b *Builder) BatchNormEpsilon(eps float64) *Builder { b.bnEpsilon = eps; return b }

// FrozenBatchNorm makes every batch norm normalise with its moving averages, in training too, and never
// update them: a fixed per-channel affine map whose scale and offset still train (PyTorch's
// FrozenBatchNorm2d). Pretrained weights whose batch norms were folded into the convolutions (what
// torch.onnx.export does in eval mode) need it; so do fine-tuning runs with small batches.
func (b *Builder) FrozenBatchNorm(frozen bool) *Builder { b.frozenBN = frozen; return b }

// FreezeBackbone trains only the classifier (head/): every other variable is marked not trainable, batch
// norms use their moving averages (FrozenBatchNorm), and the gradient stops at the pooled features, so a
// training step is a forward pass of the backbone plus the head's update. It is the "feature extraction"
// form of transfer learning.
func (b *Builder) FreezeBackbone(freeze bool) *Builder { b.freezeBackbone = freeze; return b }

// InputSize resizes the images (bilinear) to n×n inside the model before the stem, when they have another
// size: pretrained ImageNet models see their objects at the scale they were trained on (224×224), while the
// course's datasets are 28×28 or 32×32. Default 0: no resizing.
func (b *Builder) InputSize(n int) *Builder { b.inputSize = n; return b }

// Name describes the configuration, e.g. "resnet20", "plain20-w0.5".
func (b *Builder) Name() string {
	name := b.model
	if b.plain {
		name = strings.Replace(name, "resnet", "plain", 1)
	}
	if b.width != 1 {
		name += fmt.Sprintf("-w%g", b.width)
	}
	if b.imageNetStem {
		name += "-imagenet"
	}
	if b.compute == dtypes.BFloat16 {
		name += "-bf16"
	}
	return name
}

// Validate returns an error for an unknown model name or an invalid option.
func (b *Builder) Validate() error {
	if _, ok := specs[b.model]; !ok {
		return fmt.Errorf("resnet: unknown model %q; valid models: %s", b.model, strings.Join(Models(), ", "))
	}
	if !(b.width > 0) || math.IsInf(b.width, 0) {
		return fmt.Errorf("resnet: invalid width multiplier %g", b.width)
	}
	if b.numClasses < 1 {
		return fmt.Errorf("resnet: invalid number of classes %d", b.numClasses)
	}
	if b.parts < 0 {
		return fmt.Errorf("resnet: invalid number of batch parts %d (0: automatic)", b.parts)
	}
	if b.imageNetStem && specs[b.model].stem != 64 {
		return fmt.Errorf("resnet: the ImageNet stem is for resnet18, resnet34 and resnet50, not %s", b.model)
	}
	if b.bnEpsilon < 0 || math.IsNaN(b.bnEpsilon) || math.IsInf(b.bnEpsilon, 0) {
		return fmt.Errorf("resnet: invalid batch-norm epsilon %g", b.bnEpsilon)
	}
	if b.inputSize < 0 {
		return fmt.Errorf("resnet: invalid input size %d", b.inputSize)
	}
	return nil
}

// ModelFn returns Build as a model function for train.NewTrainer.
func (b *Builder) ModelFn() func(scope *model.Scope, images *Node) *Node {
	return b.Build
}

// Build creates (or reuses) the model's variables under scope and returns the logits [batch, numClasses] for
// images [batch, height, width, channels]. It panics (GoMLX style) if the configuration is invalid.
func (b *Builder) Build(scope *model.Scope, images *Node) *Node {
	logits, _ := b.build(scope, images)
	return logits
}

// stats counts what build created, for tests: main-path convolutions (stem included), shortcut
// projections, and residual additions.
type stats struct {
	convs, projections, residualAdds int
}

// net carries the per-graph settings while building.
type net struct {
	*Builder
	layout conv.Layout
	pureGo bool
	// distributed is true when the graph runs over several devices (data parallelism): see batchNormImpl.
	distributed bool
	stats       stats
	channel     func(c int) int
}

func (b *Builder) build(scope *model.Scope, images *Node) (*Node, stats) {
	if err := b.Validate(); err != nil {
		panic(err)
	}
	if images.Rank() != 4 {
		exceptions.Panicf("resnet: images must be [batch, height, width, channels], got %s", images.Shape())
	}
	backend := images.Graph().Backend()
	n := &net{Builder: b, layout: conv.PreferredLayout(backend), pureGo: platform.IsPureGo(backend),
		distributed: images.Graph().NumDevices() > 1}
	if b.layout != nil {
		n.layout = *b.layout
	}
	n.channel = func(c int) int { return max(1, int(math.Round(float64(c)*b.width))) }
	s := specs[b.model]
	batch := images.Shape().Dimensions[0]
	parts := 1
	if n.pureGo && n.batchNormImpl() == BatchNormExact {
		parts = b.parts
		if parts == 0 {
			parts = autoParts(batch, runtime.GOMAXPROCS(0)) // cores this process may use (affinity, cgroup quota)
		}
		if batch%parts != 0 {
			exceptions.Panicf("resnet: batch %d cannot be split into %d equal parts", batch, parts)
		}
	}
	if size := b.inputSize; size > 0 {
		if dims := images.Shape().Dimensions; dims[1] != size || dims[2] != size {
			images = Interpolate(images, -1, size, size, -1).Bilinear().Done()
		}
	}
	xs := make([]*Node, parts)
	for p := range xs {
		xs[p] = images
		if parts > 1 {
			xs[p] = Slice(images, AxisRange(p*batch/parts, (p+1)*batch/parts))
		}
		xs[p] = n.layout.FromNHWC(xs[p])
	}

	if b.imageNetStem {
		xs = n.convBNReLU(scope.In("stem"), "conv", "bn", xs, n.channel(s.stem), 7, 2, true)
		xs = n.maxPool(xs)
	} else {
		xs = n.convBNReLU(scope.In("stem"), "conv", "bn", xs, n.channel(s.stem), 3, 1, true)
	}
	n.stats.convs++
	for stage := range s.widths {
		stageScope := scope.In("stage%d", stage+1)
		for block := range s.blocks[stage] {
			stride := 1
			if block == 0 && stage > 0 {
				stride = 2
			}
			blockScope := stageScope.In("block%d", block)
			if s.block == basic {
				xs = n.basicBlock(blockScope, xs, n.channel(s.widths[stage]), stride)
			} else {
				xs = n.bottleneckBlock(blockScope, xs, n.channel(s.widths[stage]), stride)
			}
		}
	}
	h, w := n.layout.SpatialAxes()
	for p, x := range xs {
		x = ReduceMean(x, h, w) // global average pooling: [C, B] (CNHW) or [B, C] (NHWC)
		if n.layout == conv.CNHW {
			x = Transpose(x, 0, 1)
		}
		xs[p] = x
	}
	x := xs[0]
	if parts > 1 {
		x = Concatenate(xs, 0)
	}
	if b.freezeBackbone {
		x = StopGradient(x)
		head := model.JoinPath(scope.Scope(), "head") + model.ScopeSeparator
		for v := range scope.IterVariables() {
			if !strings.HasPrefix(v.Path(), head) {
				v.SetTrainable(false)
			}
		}
	}
	logits := layers.Dense(scope.In("head"), x, true, b.numClasses)
	return logits, n.stats
}

// maxPool is torchvision's stem max-pool: 3×3 windows, stride 2, padding 1. Its inputs follow a ReLU, so
// padding with zeros (or −∞) gives the same maxima. On the pure-Go backend, whose ReduceWindow walks a
// generic iterator (~30 ns per window element: a third of a frozen ResNet-18's forward pass at 64×64),
// it is computed as maxPoolSeparable instead.
func (n *net) maxPool(xs []*Node) []*Node {
	ys := make([]*Node, len(xs))
	for p, x := range xs {
		if n.pureGo {
			h, w := n.layout.SpatialAxes()
			ys[p] = maxPoolSeparable(maxPoolSeparable(x, h), w)
			continue
		}
		pool := MaxPool(x).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}})
		if n.layout == conv.CNHW {
			// [C, B, H, W] pools like channels-first [B, C, H, W]: the two leading axes are independent.
			pool = pool.ChannelsAxis(images.ChannelsFirst)
		}
		ys[p] = pool.Done()
	}
	return ys
}

// maxPoolSeparable max-pools x ≥ 0 along one axis with windows of 3, stride 2 and one zero of padding on
// each side: out[i] = max(x[2i−1], x[2i], x[2i+1]), ceil(n/2) outputs (3×3 max-pooling is this along
// both axes). Zero-padded to an even length 2·(out+1) and split into pairs q[j] = (x[2j−1], x[2j]),
// out[i] = max(q[i][0], q[i][1], q[i+1][0]): contiguous slices and elementwise maxima, no strides.
func maxPoolSeparable(x *Node, axis int) *Node {
	dims := x.Shape().Dimensions
	n := dims[axis]
	out := (n + 1) / 2
	zeros := func(k int) *Node {
		d := slices.Clone(dims)
		d[axis] = k
		return Zeros(x.Graph(), shapes.Make(x.DType(), d...))
	}
	padded := Concatenate([]*Node{zeros(1), x, zeros(2*out + 1 - n)}, axis) // length 2·(out+1)
	pairs := slices.Concat(dims[:axis], []int{out + 1, 2}, dims[axis+1:])
	q := Reshape(padded, pairs...)
	pick := func(from, pos int) *Node {
		specs := make([]SliceAxisSpec, len(pairs))
		for i := range specs {
			specs[i] = AxisRange()
		}
		specs[axis] = AxisRange(from, from+out)
		specs[axis+1] = AxisElem(pos)
		return Slice(q, specs...)
	}
	y := Max(Max(pick(0, 0), pick(0, 1)), pick(1, 0))
	return Reshape(y, slices.Concat(dims[:axis], []int{out}, dims[axis+1:])...)
}

// autoParts is the automatic number of batch parts: the most, up to min(cores, 4), that divide the batch
// into parts of at least 16 images.
func autoParts(batch, cores int) int {
	for p := min(cores, 4); p > 1; p-- {
		if batch%p == 0 && batch/p >= 16 {
			return p
		}
	}
	return 1
}

// Every layer below takes and returns the batch as a list of parts (see Builder.BatchParts); a layer's
// variables are created once and shared by the parts.

// convBN is a bias-free convolution followed by batch norm, in scopes convName and bnName.
func (n *net) convBN(scope *model.Scope, convName, bnName string, xs []*Node, out, k, stride int) []*Node {
	return n.convBNReLU(scope, convName, bnName, xs, out, k, stride, false)
}

// convBNReLU is convBN followed by a ReLU if relu is set.
func (n *net) convBNReLU(scope *model.Scope, convName, bnName string, xs []*Node, out, k, stride int, relu bool) []*Node {
	convScope := scope.In("%s", convName)
	ys := make([]*Node, len(xs))
	for p, x := range xs {
		ys[p] = conv.New(convScope, x, out).Kernel(k).Stride(stride).NoBias().
			Layout(n.layout).Impl(n.impl).ComputeDType(n.compute).Done()
	}
	return n.batchNorm(scope.In("%s", bnName), ys, n.layout.ChannelsAxis(), relu)
}

// residual adds the (possibly projected) shortcut to y and applies the final ReLU; plain models skip the
// shortcut.
func (n *net) residual(scope *model.Scope, xs, ys []*Node, stride int) []*Node {
	if n.plain {
		return n.relu(ys)
	}
	inC := xs[0].Shape().Dimensions[n.layout.ChannelsAxis()]
	outC := ys[0].Shape().Dimensions[n.layout.ChannelsAxis()]
	shortcuts := xs
	if stride != 1 || inC != outC {
		n.stats.projections++
		shortcuts = n.convBN(scope.In("shortcut"), "conv", "bn", xs, outC, 1, stride)
	}
	n.stats.residualAdds++
	sums := make([]*Node, len(ys))
	for p := range ys {
		sums[p] = Add(ys[p], shortcuts[p])
	}
	return n.relu(sums)
}

func (n *net) basicBlock(scope *model.Scope, xs []*Node, out, stride int) []*Node {
	n.stats.convs += 2
	ys := n.convBNReLU(scope, "conv1", "bn1", xs, out, 3, stride, true)
	ys = n.convBN(scope, "conv2", "bn2", ys, out, 3, 1)
	return n.residual(scope, xs, ys, stride)
}

func (n *net) bottleneckBlock(scope *model.Scope, xs []*Node, width, stride int) []*Node {
	n.stats.convs += 3
	ys := n.convBNReLU(scope, "conv1", "bn1", xs, width, 1, 1, true)
	ys = n.convBNReLU(scope, "conv2", "bn2", ys, width, 3, stride, true)
	ys = n.convBN(scope, "conv3", "bn3", ys, 4*width, 1, 1)
	return n.residual(scope, xs, ys, stride)
}

// IsValidModel reports whether name is one of [Models].
func IsValidModel(name string) bool {
	return slices.Contains(Models(), strings.ToLower(strings.TrimSpace(name)))
}
