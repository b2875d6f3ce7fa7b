// Package pretrained imports torchvision's ImageNet ResNets (ResNet-18, -34 and -50, exported to ONNX) into
// gonbgpu's ResNet (package vision/resnet, with its ImageNet stem), to fine-tune them on the course's images:
// the "transfer learning" the course does in PyTorch with pretrained models.
//
// Users export the weights once, where PyTorch and the internet are (a login node):
//
//	import torch, torchvision
//	m = torchvision.models.resnet18(weights="IMAGENET1K_V1").eval()
//	torch.onnx.export(m, torch.randn(1, 3, 224, 224), "resnet18.onnx")
//
// and then, in a notebook cell or a batch job:
//
//	m, err := pretrained.Load("resnet18.onnx", pretrained.Options{NumClasses: 10, FreezeBackbone: true})
//	// m.Builder.ModelFn() is the network (trainer.New), m.Mean/m.Std the normalisation (data.LoaderOptions),
//	// and m.Apply(store.RootScope().In("model")) puts the weights in place before the first step.
//
// Package vision/recipe does all of that for `gonbgpu train --pretrained resnet18.onnx`.
//
// # What is imported
//
// Every convolution (ONNX's OIHW kernels become the HWIO kernels of package vision/conv), every batch norm's
// scale, offset and running mean and variance (or, for files where torch.onnx.export folded the batch
// norms into the convolutions — the default in eval mode — the folded bias as the batch norm's offset,
// with the batch norms frozen, see resnet.Builder.FrozenBatchNorm), and the classifier (a Gemm whose
// [classes, features] weights become the head's [features, classes]). The weights are found by the
// graph's structure, not by their names, which the exporter does not keep; a file that is not a
// torchvision ResNet-18/34/50 is refused with what did not match. What exporters write around the network
// (tensors shared through Identity nodes, initializers listed as inputs, the forms of opsets 7 to 18,
// float16 weights, batch norms in training mode) is read as the same network: see graph.go.
//
// The new dataset's classes get a new, randomly initialised classifier (Options.KeepHead keeps the file's
// when the number of classes is the same); Options.FreezeBackbone trains only that classifier.
package pretrained

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

// ImageNetMean and ImageNetStd are torchvision's normalisation of RGB values in [0, 1]: the inputs the
// pretrained weights expect are (v/255 − mean)/std per channel.
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// DefaultInputSize is the image side the models are resized to when the file does not fix one:
// ImageNet's 224.
const DefaultInputSize = 224

// MaxFileSize bounds what Read loads into memory: ResNet-50 is ~100 MB in float32.
const MaxFileSize = 1 << 30

// Weights is a ResNet read from an ONNX file.
type Weights struct {
	File       string  // the file read
	Model      string  // "resnet18", "resnet34" or "resnet50"
	Width      float64 // channel multiplier: 1 for torchvision's models
	Channels   int     // input channels the file expects (3)
	NumClasses int     // the file's classifier outputs (1000 for ImageNet)
	InputSize  int     // the image side the file was exported with, 0 if not fixed
	Epsilon    float64 // the batch norms' epsilon (PyTorch's 1e-5)
	// FoldedBN is set when the batch norms were folded into the convolutions (torch.onnx.export in eval
	// mode does that): the imported batch norms then are frozen affine maps.
	FoldedBN bool

	// vars are the variables under the model's scope, by path ("stem/conv/weights", …), head included.
	vars map[string]*tensorF32
}

// Read reads and checks an ONNX file. Every error names the file.
func Read(file string) (*Weights, error) {
	st, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pretrained model %s: no such file", file)
	}
	if err != nil {
		return nil, fmt.Errorf("pretrained model %s: %w", file, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("pretrained model %s is a folder; want an .onnx file", file)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("pretrained model %s is %d MB; a ResNet-18/34/50 is at most ~100 MB", file, st.Size()>>20)
	}
	contents, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pretrained model %s: %w", file, err)
	}
	return Parse(file, contents)
}

// Parse is Read for the contents of a file; name is used in errors.
func Parse(name string, contents []byte) (w *Weights, err error) {
	defer func() {
		if p := recover(); p != nil { // a bug here must not take a notebook's kernel down
			w, err = nil, fmt.Errorf("pretrained model %s: unexpected content: %v", name, p)
		}
	}()
	g, err := parseONNX(contents)
	if err != nil {
		return nil, fmt.Errorf("pretrained model %s: %w", name, err)
	}
	w, err = fromGraph(g)
	if err != nil {
		return nil, fmt.Errorf("pretrained model %s: %w", name, err)
	}
	w.File = name
	return w, nil
}

// torchvision's architectures, by kind of block and blocks per stage.
var architectures = []struct {
	model      string
	bottleneck bool
	blocks     []int
}{
	{"resnet18", false, []int{2, 2, 2, 2}},
	{"resnet34", false, []int{3, 4, 6, 3}},
	{"resnet50", true, []int{3, 4, 6, 3}},
}

// fromGraph checks the ResNet found in the file against torchvision's and maps its weights to gonbgpu's
// variables.
func fromGraph(g *resnetGraph) (*Weights, error) {
	w := &Weights{Channels: g.stem.inC, NumClasses: g.numClasses, vars: map[string]*tensorF32{}}
	if g.inputDims[2] > 0 && g.inputDims[2] == g.inputDims[3] {
		w.InputSize = int(g.inputDims[2])
	}
	if c := g.inputDims[1]; c > 0 && int(c) != g.stem.inC {
		return nil, fmt.Errorf("the input has %d channels but the first convolution reads %d", c, g.stem.inC)
	}
	// Stages start at the first block and at every block with stride 2.
	var perStage []int
	bottleneck := len(g.blocks) > 0 && len(g.blocks[0].main) == 3
	for i, b := range g.blocks {
		if (len(b.main) == 3) != bottleneck {
			return nil, fmt.Errorf("residual block %d has %d convolutions on its main path and block 1 has %d; torchvision's ResNets use one kind of block",
				i+1, len(b.main), len(g.blocks[0].main))
		}
		if i == 0 || b.stride != 1 {
			perStage = append(perStage, 0)
		}
		perStage[len(perStage)-1]++
	}
	kind := "basic"
	if bottleneck {
		kind = "bottleneck"
	}
	for _, a := range architectures {
		if a.bottleneck == bottleneck && slices.Equal(a.blocks, perStage) {
			w.Model = a.model
		}
	}
	if w.Model == "" {
		return nil, fmt.Errorf("found a ResNet of %s blocks with %v blocks per stage; gonbgpu imports torchvision's ResNet-18 ([2 2 2 2] basic), ResNet-34 ([3 4 6 3] basic) and ResNet-50 ([3 4 6 3] bottleneck)",
			kind, perStage)
	}

	// Channels: torchvision's 64, 128, 256, 512 (×4 out of bottlenecks), times a width (test models are
	// narrower), rounded as resnet.Builder.Width does.
	w.Width = float64(g.stem.outC) / 64
	channel := func(c int) int { return max(1, int(math.Round(float64(c)*w.Width))) }
	if w.Channels != 3 && w.Channels != 1 {
		return nil, fmt.Errorf("the first convolution reads %d channels; want 3 (RGB) or 1", w.Channels)
	}
	epsilons := map[float64]bool{}
	// add maps a convolution and its batch norm to gonbgpu's variables: path is "stem", "stageS/blockB/convI"
	// (whose batch norm is "…/bnI") or "stageS/blockB/shortcut" (see package resnet's scope names).
	add := func(path string, l *convLayer, in, out, k, stride int) error {
		if l.inC != in || l.outC != out || l.k != k || l.stride != stride {
			return fmt.Errorf("%s (gonbgpu's %s) should be %d×%d stride %d, %d→%d channels for a %s", l.summary, path, k, k, stride, in, out, w.Model)
		}
		convPath, bnPath := path+"/conv", path+"/bn"
		if dir, name := filepath.Split(path); strings.HasPrefix(name, "conv") {
			convPath, bnPath = path, dir+"bn"+strings.TrimPrefix(name, "conv")
		}
		w.vars[convPath+"/weights"] = oihwToHWIO(l.w)
		bn := bnPath + "/batch_normalization/"
		ones, zeros := filled(out, 1), filled(out, 0)
		if l.bn != nil {
			epsilons[l.bn.epsilon] = true
			w.vars[bn+"scale"], w.vars[bn+"offset"] = l.bn.scale, l.bn.offset
			w.vars[bn+"mean"], w.vars[bn+"variance"] = l.bn.mean, l.bn.variance
		} else {
			w.FoldedBN = true
			w.vars[bn+"scale"], w.vars[bn+"offset"], w.vars[bn+"mean"] = ones, l.bias, zeros
			w.vars[bn+"variance"] = nil // 1 − epsilon, filled in once epsilon is known
		}
		// A weight over the averaging warm-up, so that training continues the averages with the usual
		// momentum instead of restarting them (see resnet's updateAverages).
		w.vars[bn+"avg_weight"] = filled(out, 1000)
		return nil
	}
	in := channel(64)
	if err := add("stem", g.stem, w.Channels, in, 7, 2); err != nil {
		return nil, err
	}
	block := 0
	for s, n := range perStage {
		width := channel(64 << s)
		for bi := range n {
			b := g.blocks[block]
			block++
			stride := 1
			if bi == 0 && s > 0 {
				stride = 2
			}
			path := fmt.Sprintf("stage%d/block%d", s+1, bi)
			out := width
			var err error
			if bottleneck {
				out = 4 * width
				err = firstErr(add(path+"/conv1", b.main[0], in, width, 1, 1), add(path+"/conv2", b.main[1], width, width, 3, stride),
					add(path+"/conv3", b.main[2], width, out, 1, 1))
			} else {
				err = firstErr(add(path+"/conv1", b.main[0], in, width, 3, stride), add(path+"/conv2", b.main[1], width, width, 3, 1))
			}
			if err != nil {
				return nil, err
			}
			needsProjection := stride != 1 || in != out
			switch {
			case needsProjection && b.shortcut == nil:
				return nil, fmt.Errorf("residual block %d (%s) changes the shape but has no projection on its skip connection", block, path)
			case !needsProjection && b.shortcut != nil:
				return nil, fmt.Errorf("residual block %d (%s) has a projection (%s) where torchvision's %s has none", block, path, b.shortcut.summary, w.Model)
			case needsProjection:
				if err := add(path+"/shortcut", b.shortcut, in, out, 1, stride); err != nil {
					return nil, err
				}
			}
			in = out
		}
	}
	if g.fcW.dims[1] != in {
		return nil, fmt.Errorf("the classifier reads %d features; the last stage has %d channels", g.fcW.dims[1], in)
	}
	w.vars["head/dense/weights"] = g.fcW.transpose2()
	w.vars["head/dense/biases"] = g.fcB
	if g.fcB == nil {
		w.vars["head/dense/biases"] = filled(g.numClasses, 0)
	}

	w.Epsilon = 1e-5 // PyTorch's default, for folded files (whose epsilon is gone)
	if len(epsilons) > 1 {
		return nil, fmt.Errorf("the batch norms use different epsilons %v; gonbgpu's ResNet uses one", epsilons)
	}
	for e := range epsilons {
		if !(e > 0 && e < 1) {
			return nil, fmt.Errorf("batch-norm epsilon %g out of range", e)
		}
		w.Epsilon = e
	}
	if w.FoldedBN && len(epsilons) > 0 {
		return nil, fmt.Errorf("some batch norms are folded into their convolutions and some are not")
	}
	for path, t := range w.vars {
		if t == nil { // folded batch norm: variance 1 − ε makes 1/√(var+ε) exactly 1
			w.vars[path] = filled(len(w.vars[strings.TrimSuffix(path, "variance")+"scale"].data), float32(1-w.Epsilon))
		}
	}
	return w, nil
}

// Options configure a pretrained model for a dataset.
type Options struct {
	// Model, when set ("resnet18", "resnet34" or "resnet50"), is the architecture the file must hold.
	Model string
	// NumClasses is the dataset's number of classes: the classifier is replaced by a new one with that
	// many outputs (randomly initialised). Required.
	NumClasses int
	// KeepHead keeps the file's classifier; NumClasses must then equal the file's.
	KeepHead bool
	// Channels of the dataset's images: 3 (default) or 1 (grayscale, e.g. Fashion-MNIST: the first
	// convolution's RGB kernels are summed, as if the gray image were given on all three channels).
	Channels int
	// InputSize is the side images are resized to inside the model (0: the size the file was exported
	// with, else 224). Smaller is faster and, for 28×28 or 32×32 images, often as accurate: 64 or 112
	// on a CPU.
	InputSize int
	// FreezeBackbone trains only the new classifier (see resnet.Builder.FreezeBackbone).
	FreezeBackbone bool
}

// Model is a pretrained ResNet configured for a dataset.
type Model struct {
	*Weights
	Options Options
	// Builder is the network: pass Builder.ModelFn() to the trainer.
	Builder *resnet.Builder
	// Mean and Std are the input normalisation the weights expect, one value per channel of the dataset,
	// for data.LoaderOptions.
	Mean, Std []float32
}

// Load reads file and configures it for a dataset (see Options). Every error names the file or option.
func Load(file string, opt Options) (*Model, error) {
	w, err := Read(file)
	if err != nil {
		return nil, err
	}
	return w.For(opt)
}

// For configures the weights for a dataset.
func (w *Weights) For(opt Options) (*Model, error) {
	if opt.Channels == 0 {
		opt.Channels = 3
	}
	if opt.InputSize == 0 {
		opt.InputSize = w.InputSize
		if opt.InputSize == 0 {
			opt.InputSize = DefaultInputSize
		}
	}
	switch {
	case opt.Model != "" && !strings.EqualFold(strings.TrimSpace(opt.Model), w.Model):
		return nil, fmt.Errorf("pretrained model %s holds a %s (%s), not the %s asked for", w.File, w.Model, w.describe(), opt.Model)
	case opt.NumClasses < 1:
		return nil, fmt.Errorf("pretrained model %s: the number of classes must be set (≥ 1), got %d", w.File, opt.NumClasses)
	case opt.KeepHead && opt.NumClasses != w.NumClasses:
		return nil, fmt.Errorf("pretrained model %s: keeping its classifier needs %d classes, the dataset has %d", w.File, w.NumClasses, opt.NumClasses)
	case opt.Channels != 1 && opt.Channels != 3:
		return nil, fmt.Errorf("pretrained model %s: images must have 1 or 3 channels, got %d", w.File, opt.Channels)
	case opt.Channels == 3 && w.Channels == 1:
		return nil, fmt.Errorf("pretrained model %s takes grayscale images; the dataset's have 3 channels", w.File)
	case opt.InputSize < 16 || opt.InputSize > 1024:
		return nil, fmt.Errorf("pretrained model %s: input size %d out of range [16, 1024]", w.File, opt.InputSize)
	}
	m := &Model{Weights: w, Options: opt}
	m.Builder = resnet.New(w.Model).Width(w.Width).ImageNetStem(true).BatchNormEpsilon(w.Epsilon).
		FrozenBatchNorm(w.FoldedBN).FreezeBackbone(opt.FreezeBackbone).InputSize(opt.InputSize).NumClasses(opt.NumClasses)
	if opt.Channels == 3 {
		m.Mean, m.Std = slices.Clone(ImageNetMean), slices.Clone(ImageNetStd)
	} else {
		m.Mean, m.Std = []float32{mean(ImageNetMean)}, []float32{mean(ImageNetStd)}
	}
	if w.Channels == 1 {
		m.Mean, m.Std = []float32{0.5}, []float32{0.5} // a grayscale model: no ImageNet statistics to follow
	}
	return m, nil
}

// describe summarises the file's network, e.g. "ResNet-18, 64…512 channels, 1000 classes, folded batch norms".
func (w *Weights) describe() string {
	bn := "batch norms"
	if w.FoldedBN {
		bn = "batch norms folded into the convolutions"
	}
	return fmt.Sprintf("%d-channel input, stem of %d channels, %d classes, %s", w.Channels, int(math.Round(64*w.Width)), w.NumClasses, bn)
}

// String describes the weights read.
func (w *Weights) String() string {
	return fmt.Sprintf("%s from %s: %s", w.Model, w.File, w.describe())
}

// Name describes the model, e.g. "resnet18-pretrained-frozen".
func (m *Model) Name() string {
	n := m.Model + "-pretrained"
	if m.Width != 1 {
		n += fmt.Sprintf("-w%g", m.Width)
	}
	if m.Options.FreezeBackbone {
		n += "-frozen"
	}
	return n
}

// Apply stores the imported weights as variables under scope, the scope the model is built in (for
// package vision/trainer: trainer.Store().RootScope().In("model")). Existing variables are overwritten;
// the classifier is left to its random initialisation unless Options.KeepHead.
func (m *Model) Apply(scope *model.Scope) error {
	for _, path := range slices.Sorted(maps.Keys(m.vars)) {
		t := m.vars[path]
		if strings.HasPrefix(path, "head/") && !m.Options.KeepHead {
			continue
		}
		if path == "stem/conv/weights" && m.Options.Channels == 1 && m.Channels == 3 {
			t = sumInputChannels(t)
		}
		full := model.JoinPath(scope.Scope(), path)
		value := tensors.FromFlatDataAndDimensions(slices.Clone(t.data), t.dims...)
		if v := scope.Store().GetVariable(full); v != nil {
			if !v.Shape().Equal(value.Shape()) {
				return fmt.Errorf("pretrained model %s: variable %s is %s in the model, %s in the file", m.File, full, v.Shape(), value.Shape())
			}
			if err := v.SetValue(value); err != nil {
				return fmt.Errorf("pretrained model %s: setting %s: %w", m.File, full, err)
			}
			continue
		}
		if _, err := scope.Store().CreateVariable(full, value); err != nil {
			return fmt.Errorf("pretrained model %s: creating %s: %w", m.File, full, err)
		}
	}
	return nil
}

// oihwToHWIO turns an ONNX/PyTorch kernel [out, in, kh, kw] into vision/conv's [kh, kw, in, out].
func oihwToHWIO(t *tensorF32) *tensorF32 {
	o, i, kh, kw := t.dims[0], t.dims[1], t.dims[2], t.dims[3]
	out := &tensorF32{dims: []int{kh, kw, i, o}, data: make([]float32, len(t.data))}
	for a := range o {
		for b := range i {
			for y := range kh {
				for x := range kw {
					out.data[((y*kw+x)*i+b)*o+a] = t.data[((a*i+b)*kh+y)*kw+x]
				}
			}
		}
	}
	return out
}

// sumInputChannels sums an HWIO kernel over its input channels: [kh, kw, in, out] → [kh, kw, 1, out].
func sumInputChannels(t *tensorF32) *tensorF32 {
	kh, kw, in, o := t.dims[0], t.dims[1], t.dims[2], t.dims[3]
	out := &tensorF32{dims: []int{kh, kw, 1, o}, data: make([]float32, kh*kw*o)}
	for p := range kh * kw {
		for c := range in {
			for a := range o {
				out.data[p*o+a] += t.data[(p*in+c)*o+a]
			}
		}
	}
	return out
}

func filled(n int, v float32) *tensorF32 {
	t := &tensorF32{dims: []int{n}, data: make([]float32, n)}
	for i := range t.data {
		t.data[i] = v
	}
	return t
}

func mean(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += x
	}
	return s / float32(len(v))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
