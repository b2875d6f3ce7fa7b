package recipe

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// sourceRun trains a quarter-width ResNet-20 for one epoch on a two-class folder, into a run folder: the
// "pretrained" model the InitFrom tests start from.
func sourceRun(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "source")
	r, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20", Width: 0.25,
		Epochs: 1, Batch: 8, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.Log = io.Discard
	if _, err := r.Trainer.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInitFrom starts runs from a source run's checkpoint: every backbone variable (weights and batch-norm
// statistics) is the checkpoint's, bit for bit, the classifier is new (randomly initialised, not the
// source's); with FreezeBackbone training changes only the head, without it the backbone trains too.
func TestInitFrom(t *testing.T) {
	dir := twoClassFolder(t, 10)
	src := sourceRun(t, dir)
	srcVars, _, _, err := trainer.ModelVariables(src)
	if err != nil {
		t.Fatal(err)
	}
	srcValues := map[string][]float32{}
	for path, v := range srcVars {
		srcValues[path] = tensors.MustCopyFlatData[float32](v)
	}
	for _, freeze := range []bool{true, false} {
		t.Run(fmt.Sprintf("freeze=%v", freeze), func(t *testing.T) {
			r, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20", Width: 0.25,
				Epochs: 1, Batch: 8, Seed: 7, InitFrom: src, FreezeBackbone: freeze, Out: filepath.Join(t.TempDir(), "target")})
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(r.Lines, "\n")
			wantName := "resnet20-w0.25-finetuned"
			if freeze {
				wantName += "-frozen"
			}
			for _, w := range []string{"init:     " + src + "'s weights", "new 2-class head", wantName} {
				if !strings.Contains(joined, w) {
					t.Errorf("summary lacks %q:\n%s", w, joined)
				}
			}
			// The gradient norms build and run the model: the head gets its initial value.
			if _, err := r.GradientNorms(); err != nil {
				t.Fatal(err)
			}
			start := values(r.Trainer.Store())
			backbone := 0
			for path, want := range srcValues {
				got, ok := start[path]
				if strings.HasPrefix(path, headPrefix) {
					if ok && slices.Equal(got, want) {
						t.Errorf("%s is the source's: the head must be new", path)
					}
					continue
				}
				backbone++
				if !ok || !slices.Equal(got, want) {
					t.Errorf("%s does not hold the source checkpoint's value", path)
				}
			}
			for path := range start {
				if _, ok := srcValues[path]; !ok {
					t.Errorf("%s is in the new model but not in the source checkpoint", path)
				}
			}
			if backbone < 50 {
				t.Errorf("only %d backbone variables compared", backbone)
			}
			r.Trainer.Log = io.Discard
			if _, err := r.Trainer.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			after := values(r.Trainer.Store())
			headChanged, weightsChanged, statsChanged := false, false, false
			for path, v := range after {
				changed := !slices.Equal(v, start[path])
				switch {
				case strings.HasPrefix(path, headPrefix):
					headChanged = headChanged || changed
				case strings.HasSuffix(path, "/mean") || strings.HasSuffix(path, "/variance") || strings.HasSuffix(path, "/avg_weight"):
					statsChanged = statsChanged || changed
				default:
					weightsChanged = weightsChanged || changed
				}
			}
			if !headChanged || weightsChanged == freeze || (freeze && statsChanged) {
				t.Errorf("freeze=%v: head changed %v, backbone weights changed %v, batch-norm statistics changed %v",
					freeze, headChanged, weightsChanged, statsChanged)
			}
		})
	}
}

// TestInitFromErrors: a folder without a checkpoint, another architecture, conflicting options: one error
// naming Options.InitFrom and the folder.
func TestInitFromErrors(t *testing.T) {
	dir := twoClassFolder(t, 4)
	src := sourceRun(t, dir)
	empty := t.TempDir()
	greyDir := greyTwoClassFolder(t, 4)
	o := func(m func(*Options)) Options {
		o := Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20", Width: 0.25, Epochs: 1, Batch: 4,
			InitFrom: src, Out: filepath.Join(t.TempDir(), "target")}
		m(&o)
		return o
	}
	cases := map[string]Options{
		"Options.InitFrom " + empty + ": no checkpoint in " + filepath.Join(empty, "checkpoints"): o(func(o *Options) { o.InitFrom = empty }),
		"Options.InitFrom " + src + ": its checkpoint":                                            o(func(o *Options) { o.Width = 0.5 }),
		"resnet20-w0.25, which does not fit this run's resnet32-w0.25":                            o(func(o *Options) { o.Model = "resnet32" }),
		"resnet20-w0.25, which does not fit this run's resnet20-plain-w0.25":                      o(func(o *Options) { o.Plain = true }),
		"resnet20-w0.25, which does not fit this run's resnet18-w0.25":                            o(func(o *Options) { o.Model = "resnet18" }),
		"both give the starting weights":                                                          o(func(o *Options) { o.Pretrained = "x.onnx" }),
		"is also Options.Out":                                                                     o(func(o *Options) { o.Out = src }),
		"needs Options.Pretrained FILE.onnx or Options.InitFrom RUN_DIR":                          o(func(o *Options) { o.InitFrom = ""; o.FreezeBackbone = true }),
		// A grey folder (1 channel) from a run on colour images (3): the error names the folder and both shapes.
		"this run's resnet20-w0.25-finetuned on folder (" + greyDir + ")'s 16×16×1 images: /model/stem/conv/weights is (Float32)[3, 3, 3, 4] there, (Float32)[3, 3, 1, 4] here": o(func(o *Options) { o.Data = greyDir }),
	}
	for want, opts := range cases {
		_, err := Prepare(testutil.Choice(t), opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: want an error containing %q, got %v", opts, want, err)
		}
	}
	// The source run's folder is left as it was.
	if _, err := os.Stat(filepath.Join(src, "history.json")); err != nil {
		t.Error(err)
	}
}

// TestPredict: Run.Predict classifies the test images in order, as the trainer's evaluation does: the
// confusion matrix of its predictions is the history's.
func TestPredict(t *testing.T) {
	r, err := Prepare(testutil.Choice(t), Options{Model: "resnet20", Width: 0.25, Epochs: 1, Batch: 32, LimitTrain: 256, LimitTest: 96})
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.Log = io.Discard
	h, err := r.Trainer.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pred, err := r.Predict()
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.Test.Classes)
	confusion := make([][]int64, n)
	for i := range confusion {
		confusion[i] = make([]int64, n)
	}
	for i, p := range pred {
		if p < 0 || p >= n {
			t.Fatalf("prediction %d: class %d", i, p)
		}
		confusion[r.Test.Labels[i]][p]++
	}
	if fmt.Sprint(confusion) != fmt.Sprint(h.Confusion) {
		t.Errorf("Predict's confusion matrix\n%v\ndiffers from the trainer's evaluation's\n%v", confusion, h.Confusion)
	}
}
