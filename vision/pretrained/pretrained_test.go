package pretrained

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/onnx-gomlx/onnx/parser"
	"github.com/gonbgpu/gonbgpu/internal/onnxtest"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
	"github.com/gonbgpu/gonbgpu/vision/conv"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

// randomNHWC returns images [b, size, size, 3] and the same images as NCHW (ONNX's layout).
func randomNHWC(seed uint64, b, size int) (nhwc, nchw *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(seed, 3))
	data := make([]float32, b*size*size*3)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	t := make([]float32, len(data))
	for n := range b {
		for y := range size {
			for x := range size {
				for c := range 3 {
					t[((n*3+c)*size+y)*size+x] = data[((n*size+y)*size+x)*3+c]
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(data, b, size, size, 3), tensors.FromFlatDataAndDimensions(t, b, 3, size, size)
}

// gonbgpuLogits runs builder in inference mode with the model's imported weights.
func gonbgpuLogits(t *testing.T, b compute.Backend, m *Model, builder *resnet.Builder, images *tensors.Tensor) []float32 {
	t.Helper()
	store := model.NewStore()
	if err := m.Apply(store.RootScope()); err != nil {
		t.Fatal(err)
	}
	out, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		scope.Store().SetTraining(x.Graph(), false)
		return []*Node{builder.Build(scope, x)}
	}, images)
	if err != nil {
		t.Fatalf("%s: %+v", builder.Name(), err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// onnxLogits evaluates the ONNX graph itself with onnx-gomlx: an independent reading of the file.
func onnxLogits(t *testing.T, b compute.Backend, contents []byte, images *tensors.Tensor) []float32 {
	t.Helper()
	om, err := parser.Parse(contents)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if err := om.VariablesToScope(store.RootScope()); err != nil {
		t.Fatal(err)
	}
	inputs, _ := om.Inputs()
	outputs, _ := om.Outputs()
	out, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		return om.CallGraph(scope, x.Graph(), map[string]*Node{inputs[0]: x}, outputs[0])
	}, images)
	if err != nil {
		t.Fatalf("onnx-gomlx: %+v", err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func stdDev(a []float32) float64 {
	var s, s2 float64
	for _, v := range a {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(a))
	return math.Sqrt(max(0, s2/n-(s/n)*(s/n)))
}

// TestLogitsMatchONNX: a torchvision-layout ResNet-18/34/50 (narrow, random weights), with its batch norms
// or with them folded into the convolutions as torch.onnx.export does in eval mode, gives the same logits
// in gonbgpu's ResNet (pure-Go configuration, and the XLA one: NHWC, native convolutions, GoMLX's batch
// norm) as the ONNX graph evaluated by onnx-gomlx, within 1e-4. Untrained models (batch norms at their
// initial values) have their equal tensors stored once and shared through Identity nodes, as
// torch.onnx.export writes them.
func TestLogitsMatchONNX(t *testing.T) {
	b := testutil.GoBackend(t)
	for _, tc := range []struct {
		model                     string
		folded, matMul, untrained bool
	}{{"resnet18", false, false, false}, {"resnet18", true, false, false}, {"resnet18", false, true, false}, {"resnet34", true, false, false},
		{"resnet50", false, false, false}, {"resnet50", true, false, false}, {"resnet18", true, false, true}, {"resnet50", false, false, true}} {
		name := tc.model
		if tc.folded {
			name += "-folded"
		}
		if tc.matMul {
			name += "-matmul-head"
		}
		if tc.untrained {
			name += "-untrained"
		}
		t.Run(name, func(t *testing.T) {
			const size, classes = 32, 7
			contents := onnxtest.ResNet(onnxtest.Options{Model: tc.model, Divisor: 16, Folded: tc.folded, Classes: classes, Size: size, Seed: 5,
				MatMulHead: tc.matMul, Untrained: tc.untrained})
			w, err := Parse("generated.onnx", contents)
			if err != nil {
				t.Fatal(err)
			}
			if w.Model != tc.model || w.FoldedBN != tc.folded || w.Width != 1.0/16 || w.NumClasses != classes || w.Epsilon != float64(float32(1e-5)) && !tc.folded {
				t.Fatalf("read %+v", w)
			}
			m, err := w.For(Options{NumClasses: classes, KeepHead: true, InputSize: size})
			if err != nil {
				t.Fatal(err)
			}
			nhwc, nchw := randomNHWC(11, 2, size)
			want := onnxLogits(t, b, contents, nchw)
			if s := stdDev(want); s < 0.05 {
				t.Fatalf("ONNX logits have std %g: the comparison would prove little", s)
			}
			t.Logf("ONNX logits: std %.3g", stdDev(want))
			got := gonbgpuLogits(t, b, m, m.Builder, nhwc)
			if d := maxAbsDiff(got, want); d > 1e-4 {
				t.Errorf("pure-Go configuration: logits differ from the ONNX graph's by %g\n got %v\nwant %v", d, got, want)
			}
			xla := *m.Builder
			got = gonbgpuLogits(t, b, m, xla.Layout(conv.NHWC).ConvImpl(conv.Native).BatchNorm(resnet.BatchNormGoMLX), nhwc)
			if d := maxAbsDiff(got, want); d > 1e-4 {
				t.Errorf("XLA configuration: logits differ from the ONNX graph's by %g", d)
			}
		})
	}
}

// TestGrayscaleAndNewHead: for 1-channel images the stem's kernels are summed over RGB (the same as
// feeding the gray image on all three channels), and without KeepHead the classifier is new.
func TestGrayscaleAndNewHead(t *testing.T) {
	b := testutil.GoBackend(t)
	const size = 32
	contents := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 5, Size: size, Seed: 8})
	w, err := Parse("generated.onnx", contents)
	if err != nil {
		t.Fatal(err)
	}
	rgb, err := w.For(Options{NumClasses: 5, KeepHead: true, InputSize: size})
	if err != nil {
		t.Fatal(err)
	}
	gray, err := w.For(Options{NumClasses: 5, KeepHead: true, InputSize: size, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(gray.Mean) != 1 || len(rgb.Mean) != 3 || rgb.Mean[0] != ImageNetMean[0] {
		t.Errorf("normalisation: gray %v/%v, rgb %v/%v", gray.Mean, gray.Std, rgb.Mean, rgb.Std)
	}
	g, _ := randomNHWC(4, 2, size)
	g3 := tensors.FromShape(shapes.Make(dtypes.Float32, 2, size, size, 1))
	src := tensors.MustCopyFlatData[float32](g)
	replicated := make([]float32, len(src))
	tensors.MutableFlatData(g3, func(flat []float32) {
		for i := range flat {
			flat[i] = src[3*i]
			for c := range 3 {
				replicated[3*i+c] = src[3*i]
			}
		}
	})
	want := gonbgpuLogits(t, b, rgb, rgb.Builder, tensors.FromFlatDataAndDimensions(replicated, 2, size, size, 3))
	got := gonbgpuLogits(t, b, gray, gray.Builder, g3)
	if d := maxAbsDiff(got, want); d > 1e-4 {
		t.Errorf("grayscale model differs from the RGB model on replicated gray images by %g", d)
	}

	// A new head: 3 classes, randomly initialised, and the imported backbone.
	m, err := w.For(Options{NumClasses: 3, InputSize: size})
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if err := m.Apply(store.RootScope()); err != nil {
		t.Fatal(err)
	}
	if v := store.GetVariable("/head/dense/weights"); v != nil {
		t.Errorf("the file's classifier was imported without KeepHead: %s", v.Shape())
	}
	if v := store.GetVariable("/stage4/block1/bn2/batch_normalization/variance"); v == nil {
		t.Errorf("backbone variables missing after Apply")
	}
	out, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		scope.Store().SetTraining(x.Graph(), false)
		return []*Node{m.Builder.Build(scope, x)}
	}, g)
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Shape().Equal(shapes.Make(dtypes.Float32, 2, 3)) {
		t.Errorf("logits %s, want [2, 3]", out[0].Shape())
	}
}

// TestResize: InputSize resizes inside the model, so 28×28 images go through a model configured for 32.
func TestResize(t *testing.T) {
	b := testutil.GoBackend(t)
	contents := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 4, Size: 32, Seed: 2})
	w, err := Parse("generated.onnx", contents)
	if err != nil {
		t.Fatal(err)
	}
	if w.InputSize != 32 {
		t.Errorf("input size read %d, want 32", w.InputSize)
	}
	m, err := w.For(Options{NumClasses: 4, KeepHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Options.InputSize != 32 {
		t.Errorf("default input size %d, want the file's 32", m.Options.InputSize)
	}
	small, _ := randomNHWC(1, 2, 28)
	resized, err := model.CallOnceN(b, model.NewStore(), func(_ *model.Scope, x *Node) []*Node {
		return []*Node{Interpolate(x, -1, 32, 32, -1).Bilinear().Done()}
	}, small)
	if err != nil {
		t.Fatal(err)
	}
	got := gonbgpuLogits(t, b, m, m.Builder, small)
	want := gonbgpuLogits(t, b, m, m.Builder, resized[0])
	if d := maxAbsDiff(got, want); d > 1e-5 {
		t.Errorf("28×28 images are not resized to 32×32 inside the model: logits differ by %g", d)
	}
}

// TestBadFiles: every bad file gets one error that names the file and what did not match; no panics.
func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 4, Size: 32, Seed: 1})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A non-ResNet ONNX model: a two-layer perceptron.
	mlp := onnxtest.MLP()
	// ResNet-101's layout ([3 4 23 3] bottlenecks) is a ResNet, but not one gonbgpu has.
	r101 := onnxtest.ResNetBlocks(onnxtest.Options{Model: "resnet50", Divisor: 16, Classes: 4, Size: 32, Seed: 1}, []int{3, 4, 23, 3})
	int8 := mutate(t, good, func(m *protos.ModelProto) {
		w := m.Graph.Initializer[0]
		w.DataType, w.RawData = int32(protos.TensorProto_INT8), w.RawData[:len(w.RawData)/4]
	})
	for _, tc := range []struct {
		name, path string
		opt        Options
		want       string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), Options{}, "no such file"},
		{"folder", dir, Options{}, "is a folder"},
		{"empty", write("empty.onnx", nil), Options{}, "empty"},
		{"text", write("notes.onnx", []byte("this is not a model\n")), Options{}, "ONNX"},
		{"truncated", write("truncated.onnx", good[:len(good)/2]), Options{}, "truncated"},
		{"truncated-end", write("truncated2.onnx", good[:len(good)-3]), Options{}, "truncated"},
		{"not-resnet", write("mlp.onnx", mlp), Options{}, "goes to Flatten \"/Flatten_1\"; a torchvision ResNet has a Conv there"},
		{"resnet101", write("r101.onnx", r101), Options{}, "[3 4 23 3]"},
		{"int8", write("int8.onnx", int8), Options{}, `Conv "/Conv_1": weights: "conv1.weight" is INT8; gonbgpu imports float weights`},
		{"depth", write("r18.onnx", good), Options{Model: "resnet34", NumClasses: 3}, "holds a resnet18"},
		{"classes", write("r18b.onnx", good), Options{NumClasses: 3, KeepHead: true}, "4 classes"},
		{"no-classes", write("r18c.onnx", good), Options{}, "number of classes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path, tc.opt)
			if err == nil {
				t.Fatalf("no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q should name %s and say %q", msg, tc.path, tc.want)
			}
			if strings.Contains(msg, "unexpected content") || strings.Count(msg, "\n") > 0 {
				t.Errorf("not one clear line: %q", msg)
			}
		})
	}
}

// FuzzParse: no input makes the reader panic (Parse would turn a panic into an error; this calls the
// reader directly so that one shows up).
func FuzzParse(f *testing.F) {
	good := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 64, Classes: 3, Size: 16, Seed: 1}) // ~20 KB
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add(onnxtest.MLP())
	f.Add(onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 64, Classes: 3, Size: 16, Seed: 1, Folded: true, Untrained: true})) // Identity nodes
	f.Add(onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 64, Classes: 3, Size: 16, Seed: 1, FP16: true, MatMulHead: true}))
	f.Add([]byte("\x08\x07\x12\x04test"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := parseONNX(data)
		if err != nil {
			return
		}
		if w, err := fromGraph(g); err == nil {
			if _, err := w.For(Options{NumClasses: 2}); err != nil && !strings.Contains(err.Error(), "input size") {
				t.Errorf("a file that reads must configure: %v", err)
			}
		}
	})
}
