package recipe

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu"
)

func TestPrepareAndTrainFashionMNIST(t *testing.T) {
	out := t.TempDir()
	r, err := Prepare(gpu.Backend(), Options{Model: "resnet20", Width: 0.25, Epochs: 1, Batch: 32,
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
	r, err := Prepare(gpu.Backend(), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20",
		Width: 0.25, Epochs: 1, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.N != 16 || r.Test.N != 4 || r.Train.H != 16 || r.Train.C != 3 || r.Train.Classes[1] != "light" {
		t.Fatalf("folder split: train %v, test %v", r.Train, r.Test)
	}
}

func TestOptionErrors(t *testing.T) {
	cases := map[string]Options{
		"unknown dataset":   {Dataset: "imagenet"},
		"unknown model":     {Model: "vgg16"},
		"cifar10 needs":     {Dataset: "cifar10"},
		"folder needs":      {Dataset: "folder"},
		"--resume needs":    {Resume: true},
		"unknown optimizer": {Optimizer: "lbfgs"},
		"unknown schedule":  {Schedule: "linear"},
		"no such":           {Dataset: "cifar10", Data: "/nonexistent/cifar"},
		"needs the XLA":     {Precision: "bf16"},
		"unknown precision": {Precision: "fp8"},
	}
	for want, o := range cases {
		_, err := Prepare(gpu.Backend(), o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: want an error containing %q, got %v", o, want, err)
		}
	}
}
