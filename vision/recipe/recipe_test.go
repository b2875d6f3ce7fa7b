package recipe

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gonbgpu/gonbgpu/internal/onnxtest"
	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
	"github.com/gonbgpu/gonbgpu/vision/pretrained"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

func TestPrepareAndTrainFashionMNIST(t *testing.T) {
	out := t.TempDir()
	r, err := Prepare(testutil.Choice(t), Options{Model: "resnet20", Width: 0.25, Epochs: 1, Batch: 32,
		LimitTrain: 128, LimitTest: 64, Out: out, LogEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.N != 128 || r.Test.N != 64 || r.Train.H != 28 || len(r.Train.Classes) != 10 {
		t.Fatalf("data: %v %v", r.Train, r.Test)
	}
	joined := strings.Join(r.Lines, "\n")
	for _, w := range []string{"fashion-mnist, 128 training and 64 test images of 28×28×1", "batch 32", "resnet20-w0.25", "Crop"} {
		if !strings.Contains(joined, w) {
			t.Errorf("summary lacks %q:\n%s", w, joined)
		}
	}
	before, err := r.GradientNorms()
	if err != nil || len(before) < 20 || before[0].Norm <= 0 {
		t.Fatalf("gradient norms: %v %v", before, err)
	}
	r.Trainer.Log = io.Discard
	h, err := r.Trainer.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e := h.Epochs[0]; e.TestLoss <= 0 || e.TestLoss > 10 {
		t.Errorf("test loss %v: batch-norm averages are not re-estimated before evaluation", e.TestLoss)
	}
	if len(h.Epochs) != 1 || h.Epochs[0].Steps != 4 || len(h.Steps) != 4 {
		t.Fatalf("history: %+v", h.Epochs)
	}
	if _, err := os.Stat(filepath.Join(out, "history.csv")); err != nil {
		t.Fatal(err)
	}
	after, err := r.GradientNorms()
	if err != nil || after[0].Norm == before[0].Norm {
		t.Fatalf("gradient norms should change with training: %v → %v (%v)", before[0].Norm, after[0].Norm, err)
	}
}

// TestFolderDataset builds a tiny two-class folder of PNGs and checks the split and image size.
func TestFolderDataset(t *testing.T) {
	dir := t.TempDir()
	for ci, class := range []string{"dark", "light"} {
		os.MkdirAll(filepath.Join(dir, class), 0o755)
		for i := range 10 {
			img := image.NewRGBA(image.Rect(0, 0, 20, 12))
			for p := range img.Pix {
				img.Pix[p] = uint8(40 + 170*ci)
			}
			img.Set(i, 3, color.RGBA{255, 0, 0, 255})
			f, _ := os.Create(filepath.Join(dir, class, string(rune('a'+i))+".png"))
			png.Encode(f, img)
			f.Close()
		}
	}
	r, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20",
		Width: 0.25, Epochs: 1, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.N != 16 || r.Test.N != 4 || r.Train.H != 16 || r.Train.C != 3 || r.Train.Classes[1] != "light" {
		t.Fatalf("folder split: train %v, test %v", r.Train, r.Test)
	}
}

func TestOptionErrors(t *testing.T) {
	empty := catalog.Options{Dir: t.TempDir()} // no fetched CIFAR-10
	cases := map[string]Options{
		"unknown dataset":            {Dataset: "imagenet"},
		"unknown model":              {Model: "vgg16"},
		"gonbgpu data fetch cifar10": {Dataset: "cifar10"},
		`"folder" needs`:             {Dataset: "folder"},
		"Options.Resume needs":       {Resume: true},
		"unknown optimizer":          {Optimizer: "lbfgs"},
		"unknown schedule":           {Schedule: "linear"},
		"no such":                    {Dataset: "cifar10", Data: "/nonexistent/cifar"},
		"needs the XLA":              {Precision: "bf16"},
		"unknown precision":          {Precision: "fp8"},
	}
	if !testutil.Choice(t).PureGo() {
		delete(cases, "needs the XLA") // bf16 is refused on the pure-Go backend only
	}
	for want, o := range cases {
		o.Datasets = empty
		_, err := Prepare(testutil.Choice(t), o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: want an error containing %q, got %v", o, want, err)
		}
	}
}

// twoClassFolder writes a folder dataset of n dark and n light 20×12 colour PNGs (one red pixel each).
func twoClassFolder(t *testing.T, n int) string { return classFolder(t, n, false) }

// greyTwoClassFolder writes the same folder with grey PNGs (one white pixel each).
func greyTwoClassFolder(t *testing.T, n int) string { return classFolder(t, n, true) }

// classFolder writes n dark and n light 20×12 PNGs in the folders "dark" and "light", grey or colour,
// each with one marked pixel in row 3 (so that no two images of a class are the same).
func classFolder(t *testing.T, n int, grey bool) string {
	t.Helper()
	dir := t.TempDir()
	for ci, class := range []string{"dark", "light"} {
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			var img draw.Image = image.NewRGBA(image.Rect(0, 0, 20, 12))
			mark := color.Color(color.RGBA{255, 0, 0, 255})
			if grey {
				img, mark = image.NewGray(img.Bounds()), color.Gray{255}
			}
			draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{uint8(40 + 170*ci)}), image.Point{}, draw.Src)
			img.Set(i%20, 3, mark)
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, class, fmt.Sprintf("%02d.png", i)), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// values copies the float32 variables under /model.
func values(store *model.Store) map[string][]float32 {
	out := map[string][]float32{}
	for v := range store.Scope("/model").IterVariables() {
		if v.Shape().DType == dtypes.Float32 {
			out[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	return out
}

// TestPretrained fine-tunes an imported ResNet-18 (narrow, random weights) on a folder: the run starts from
// the file's weights with a new 2-class head and ImageNet's normalisation, Options.FreezeBackbone trains only the
// head, and without it the backbone trains too; a resumed run keeps its checkpoint's weights.
func TestPretrained(t *testing.T) {
	dir := twoClassFolder(t, 10)
	file := filepath.Join(t.TempDir(), "resnet18.onnx")
	if err := os.WriteFile(file, onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 1000, Size: 32, Seed: 3}), 0o644); err != nil {
		t.Fatal(err)
	}
	ref, err := pretrained.Load(file, pretrained.Options{NumClasses: 2})
	if err != nil {
		t.Fatal(err)
	}
	refStore := model.NewStore()
	if err := ref.Apply(refStore.Scope("/model")); err != nil {
		t.Fatal(err)
	}
	fileValues := values(refStore)
	for _, freeze := range []bool{true, false} {
		t.Run(fmt.Sprintf("freeze=%v", freeze), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			o := Options{Dataset: "folder", Data: dir, ImageSize: 16, Pretrained: file, FreezeBackbone: freeze,
				PretrainedSize: 32, Epochs: 1, Batch: 8, Optimizer: "adam", Out: out}
			if freeze {
				o.Optimizer = "sgd" // with weight decay, which must not touch the frozen weights either
			}
			r, err := Prepare(testutil.Choice(t), o)
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(r.Lines, "\n")
			wantName := "resnet18-pretrained"
			if freeze {
				wantName += "-frozen"
			}
			for _, w := range []string{"pretrained: resnet18 from " + file, "new 2-class head", "32×32", wantName} {
				if !strings.Contains(joined, w) {
					t.Errorf("summary lacks %q:\n%s", w, joined)
				}
			}
			if r.TrainLoader == nil || r.Pretrained == nil || r.Pretrained.Mean[0] != pretrained.ImageNetMean[0] {
				t.Fatalf("pretrained run not set up: %+v", r.Pretrained)
			}
			start := values(r.Trainer.Store())
			for path, want := range fileValues {
				if got, ok := start[path]; !ok || !slices.Equal(got, want) {
					t.Errorf("%s does not hold the file's weights", path)
				}
			}
			r.Trainer.Log = io.Discard
			if _, err := r.Trainer.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			after := values(r.Trainer.Store())
			headChanged, backboneChanged := false, false
			for path, v := range after {
				changed := !slices.Equal(v, start[path])
				if strings.HasPrefix(path, "/model/head/") {
					headChanged = headChanged || changed
				} else if !strings.HasSuffix(path, "/mean") && !strings.HasSuffix(path, "/variance") && !strings.HasSuffix(path, "/avg_weight") {
					backboneChanged = backboneChanged || changed
				}
			}
			if !headChanged || backboneChanged != !freeze {
				t.Errorf("freeze=%v: head changed %v, backbone weights changed %v", freeze, headChanged, backboneChanged)
			}
			// Resuming (one more epoch) continues from the checkpoint, not from the file.
			o.Resume, o.Epochs = true, 2
			r2, err := Prepare(testutil.Choice(t), o)
			if err != nil {
				t.Fatal(err)
			}
			resumed := values(r2.Trainer.Store())
			if p := "/model/stem/conv/weights"; !freeze && slices.Equal(resumed[p], fileValues[p]) {
				t.Errorf("resumed run overwritten with the file's weights")
			}
		})
	}
}

func TestPretrainedOptionErrors(t *testing.T) {
	dir := twoClassFolder(t, 4)
	file := filepath.Join(t.TempDir(), "r18.onnx")
	if err := os.WriteFile(file, onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 10, Size: 32, Seed: 3}), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "mlp.onnx")
	if err := os.WriteFile(bad, onnxtest.MLP(), 0o644); err != nil {
		t.Fatal(err)
	}
	folder := func(o Options) Options { o.Dataset, o.Data, o.Epochs, o.Batch = "folder", dir, 1, 4; return o }
	for want, o := range map[string]Options{
		"needs Options.Pretrained FILE.onnx": folder(Options{FreezeBackbone: true}),
		"do not apply to Options.Pretrained": folder(Options{Pretrained: file, Width: 0.5}),
		"holds a resnet18":                   folder(Options{Pretrained: file, Model: "resnet50"}),
		bad + ": not a torchvision ResNet":   folder(Options{Pretrained: bad}),
		"no such file":                       folder(Options{Pretrained: file + ".missing"}),
	} {
		_, err := Prepare(testutil.Choice(t), o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: want an error containing %q, got %v", o, want, err)
		}
	}
}

// TestPretrainedFromScratch: FromScratch trains the file's network (ImageNet stem, same size and
// normalisation) from random weights, with ordinary (not frozen) batch norms even for a folded file.
func TestPretrainedFromScratch(t *testing.T) {
	dir := twoClassFolder(t, 10)
	file := filepath.Join(t.TempDir(), "resnet18.onnx")
	if err := os.WriteFile(file, onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Folded: true, Classes: 1000, Size: 32, Seed: 3}), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Pretrained: file, FromScratch: true,
		PretrainedSize: 32, Epochs: 1, Batch: 8, Optimizer: "adam"})
	if err != nil {
		t.Fatal(err)
	}
	if joined := strings.Join(r.Lines, "\n"); !strings.Contains(joined, "resnet18-imagenet-scratch") || !strings.Contains(joined, "from scratch") {
		t.Errorf("summary:\n%s", joined)
	}
	if n := r.Trainer.Store().Scope("/model").NumVariables(); n != 0 {
		t.Errorf("%d variables set before training: the file's weights were applied", n)
	}
	r.Trainer.Log = io.Discard
	if _, err := r.Trainer.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := values(r.Trainer.Store())
	if w := after["/model/stem/conv/weights"]; len(w) != 7*7*3*4 {
		t.Errorf("stem kernel has %d values, want the ImageNet stem's 7·7·3·4", len(w))
	}
	mean := after["/model/stage1/block0/bn1/batch_normalization/mean"]
	if len(mean) == 0 || slices.Max(mean) == 0 && slices.Min(mean) == 0 {
		t.Errorf("batch-norm averages were not updated: frozen batch norms from scratch")
	}
	if _, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, Pretrained: file, FromScratch: true, FreezeBackbone: true}); err == nil ||
		!strings.Contains(err.Error(), "does not go with Options.FreezeBackbone") {
		t.Errorf("FromScratch with FreezeBackbone: %v", err)
	}
}

// TestPrepareFillsTheDefaults: a run with nothing set takes recipe.Defaults, the platform's default model
// and the optimizer's defaults at that batch: the values `gonbgpu train` shows as its flags' defaults.
func TestPrepareFillsTheDefaults(t *testing.T) {
	dir := twoClassFolder(t, 10)
	c := testutil.Choice(t)
	r, err := Prepare(c, Options{Dataset: "folder", Data: dir, Width: 0.25, Epochs: 1, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, d := r.Options, Defaults()
	lr, momentum, wd, _ := OptimizerDefaults(d.Optimizer, 4)
	if got.ImageSize != d.ImageSize || got.ValFraction != d.ValFraction || got.Precision != d.Precision ||
		got.Optimizer != d.Optimizer || got.Schedule != d.Schedule || got.Seed != d.Seed {
		t.Errorf("options %+v: want the defaults %+v", got, d)
	}
	if got.Model != resnet.DefaultModel(c.Backend) || got.LR != lr || got.Momentum != momentum || got.WeightDecay != wd {
		t.Errorf("model %s, lr %g, momentum %g, weight decay %g: want %s, %g, %g, %g", got.Model, got.LR, got.Momentum,
			got.WeightDecay, resnet.DefaultModel(c.Backend), lr, momentum, wd)
	}
	if lr, _, wd, ok := OptimizerDefaults("adam", 512); !ok || lr != 1e-3 || wd != 0 || DefaultsHelp("lr") != "0.1×batch/128 for sgd, 0.001 for adam" {
		t.Errorf("adam's defaults: %g, %g, %v; help %q", lr, wd, ok, DefaultsHelp("lr"))
	}
	if _, _, _, ok := OptimizerDefaults("rmsprop", 1); ok {
		t.Error("an unknown optimizer must have no defaults")
	}
}

// TestGreyFolder: a folder of grey images is a 1-channel dataset (the data line says 16×16×1), and an
// ImageNet network (3 input channels) still starts from its file's weights: the stem's kernel is the
// file's summed over R, G and B, as if the grey image were given on all three.
func TestGreyFolder(t *testing.T) {
	dir := greyTwoClassFolder(t, 10)
	r, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20",
		Width: 0.25, Epochs: 1, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.C != 1 || r.Test.C != 1 || len(r.Train.Pixels) != 16*16*r.Train.N {
		t.Fatalf("grey folder: train %d channels (%d bytes for %d images), test %d", r.Train.C, len(r.Train.Pixels), r.Train.N, r.Test.C)
	}
	if joined := strings.Join(r.Lines, "\n"); !strings.Contains(joined, "images of 16×16×1, 2 classes (from "+dir) {
		t.Errorf("data line:\n%s", joined)
	}

	file := filepath.Join(t.TempDir(), "resnet18.onnx")
	if err := os.WriteFile(file, onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Folded: true, Classes: 1000, Size: 32, Seed: 3}), 0o644); err != nil {
		t.Fatal(err)
	}
	ref, err := pretrained.Load(file, pretrained.Options{NumClasses: 2})
	if err != nil {
		t.Fatal(err)
	}
	refStore := model.NewStore()
	if err := ref.Apply(refStore.Scope("/model")); err != nil {
		t.Fatal(err)
	}
	rgb := values(refStore)["/model/stem/conv/weights"] // [7, 7, 3, out]
	r, err = Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Pretrained: file,
		PretrainedSize: 32, Epochs: 1, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	grey := values(r.Trainer.Store())["/model/stem/conv/weights"] // [7, 7, 1, out]
	if len(rgb) != 3*len(grey) || len(grey) == 0 {
		t.Fatalf("stem kernel: %d values from the file, %d in the run; want 3:1", len(rgb), len(grey))
	}
	out := len(grey) / 49
	for i := range grey {
		k, o := i/out, i%out
		want := rgb[(3*k+0)*out+o] + rgb[(3*k+1)*out+o] + rgb[(3*k+2)*out+o]
		if math.Abs(float64(grey[i]-want)) > 1e-6 {
			t.Fatalf("stem kernel value %d = %g, want the sum over R, G, B %g", i, grey[i], want)
		}
	}
	if len(r.Pretrained.Mean) != 1 {
		t.Errorf("normalisation of a grey dataset: %d means", len(r.Pretrained.Mean))
	}
}
