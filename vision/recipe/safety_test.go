package recipe

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// TestFloatOptionErrors: every floating-point option is checked for finiteness and range, with an
// error naming the flag; the old code let NaN through (and Options.ValFraction NaN panicked in data.Split).
func TestFloatOptionErrors(t *testing.T) {
	dir := twoClassFolder(t, 10)
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Dataset: "folder", Data: dir, ValFraction: nan}, "Options.ValFraction must be a finite number in [0, 1)"},
		{Options{Dataset: "folder", Data: dir, ValFraction: 1}, "Options.ValFraction"},
		{Options{Dataset: "folder", Data: dir, ValFraction: -0.5}, "Options.ValFraction"},
		{Options{LR: 1e300}, "Options.LR must be a finite number in [0, 100]"},
		{Options{LR: inf}, "Options.LR"},
		{Options{LR: -0.1}, "Options.LR"},
		{Options{LR: nan}, "Options.LR"},
		{Options{Momentum: nan}, "Options.Momentum must be a finite number in [0, 1)"},
		{Options{Momentum: 1}, "Options.Momentum"},
		{Options{Momentum: -1}, "Options.Momentum"},
		{Options{WeightDecay: inf}, "Options.WeightDecay must be a finite number in [0, 1)"},
		{Options{WeightDecay: nan}, "Options.WeightDecay"},
		{Options{LabelSmoothing: 2}, "Options.LabelSmoothing must be a finite number in [0, 1)"},
		{Options{LabelSmoothing: nan}, "Options.LabelSmoothing"},
		{Options{Width: nan}, "Options.Width"},
		{Options{Width: inf}, "Options.Width"},
		{Options{Width: -1}, "Options.Width"},
		{Options{Optimizer: "adam", Momentum: nan}, "Options.Momentum"},
	}
	for _, c := range cases {
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%+v: panic %v", c.o, p)
				}
			}()
			_, err = Prepare(testutil.Choice(t), c.o)
		}()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want an error containing %q, got %v", c.o, c.want, err)
		}
	}
}

// TestEmptySplits: a Options.ValFraction that leaves no training or no test images, or a Options.Batch the training
// images cannot fill, is refused before training, naming the flag (the old code trained an epoch, then
// failed in evaluation, or said "the training dataset must report its number of batches").
func TestEmptySplits(t *testing.T) {
	dir := twoClassFolder(t, 10)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Dataset: "folder", Data: dir, ImageSize: 8, ValFraction: 0.001}, "Options.ValFraction 0.001 holds out none of the 20 images"},
		{Options{Dataset: "folder", Data: dir, ImageSize: 8, ValFraction: 0.999}, "Options.ValFraction 0.999 holds out all 20 images"},
		{Options{LimitTrain: 1}, "Options.Batch 4 is more than the 1 training images can fill"},
	} {
		c.o.Model, c.o.Width, c.o.Batch = "resnet20", 0.25, 4
		_, err := Prepare(testutil.Choice(t), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want an error containing %q, got %v", c.o, c.want, err)
		}
	}
}

// TestSizesCheckedAgainstMemory: Options.ImageSize, Options.Width and Options.Batch that cannot fit are refused at once, before
// any data is read, with the figure (the old code died in the runtime's fatal out-of-memory).
func TestSizesCheckedAgainstMemory(t *testing.T) {
	dir := twoClassFolder(t, 10)
	// The data folders do not exist: reading any data first would fail with "no such" instead, so the
	// memory error proves the check comes before the data is read, whatever the machine's speed.
	missing := filepath.Join(t.TempDir(), "not-read")
	cases := []struct {
		o    Options
		want []string
	}{
		{Options{Dataset: "folder", Data: missing, ImageSize: 20000, Model: "resnet20"}, []string{"Options.ImageSize 20000", "at Options.Batch 128 needs at least", "TiB of memory", "for the activations", "lower Options.Batch, Options.Width or Options.ImageSize"}},
		{Options{Data: missing, Model: "resnet20", Width: 500}, []string{"resnet20 (width 500) on 28×28×1 images at Options.Batch 128 needs at least", "GiB for the parameters"}},
		{Options{Data: missing, Model: "resnet20", Batch: 1 << 30}, []string{"Options.Batch 1073741824", "needs at least"}},
	}
	for _, c := range cases {
		_, err := Prepare(testutil.Choice(t), c.o)
		if err == nil {
			t.Fatalf("%+v: accepted", c.o)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q lacks %q", c.o, err, w)
			}
		}
	}
	// A sane run passes the check.
	if _, err := Prepare(testutil.Choice(t), Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20", Width: 0.25, Batch: 4, Epochs: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestResumeChecksDataOrder: a run interrupted mid-epoch, resumed with another Options.Batch, Options.ValFraction,
// Options.NoAugment or Options.ImageSize, is refused naming that flag; unchanged, it resumes.
func TestResumeChecksDataOrder(t *testing.T) {
	dir := twoClassFolder(t, 10)
	out := t.TempDir()
	base := Options{Dataset: "folder", Data: dir, ImageSize: 16, Model: "resnet20", Width: 0.25, Batch: 4, Epochs: 2, Out: out}
	r, err := Prepare(testutil.Choice(t), base)
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.Log = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	r.Trainer.Progress = progressFunc(func(done int) {
		if steps++; steps == 2 {
			cancel()
		}
	})
	if _, err := r.Trainer.Run(ctx); err == nil {
		t.Fatal("the run was not interrupted")
	}
	for _, c := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Batch = 8 }, "Options.Batch differs"},
		{func(o *Options) { o.ValFraction = 0.5 }, "Options.ValFraction differs"},
		{func(o *Options) { o.NoAugment = true }, "Options.NoAugment differs"},
		{func(o *Options) { o.Seed = 3 }, "Options.Seed differs"},
		{func(o *Options) { o.LimitTrain = 8 }, "Options.LimitTrain differs"},
	} {
		o := base
		o.Resume = true
		c.change(&o)
		_, err := Prepare(testutil.Choice(t), o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error containing %q, got %v", c.want, err)
		}
	}
	o := base
	o.Resume = true
	r, err = Prepare(testutil.Choice(t), o)
	if err != nil {
		t.Fatalf("unchanged options must resume: %v", err)
	}
}

// progressFunc is a trainer.Progress calling f after each step.
type progressFunc func(done int)

func (f progressFunc) Start(epoch, epochs, steps int) {}
func (f progressFunc) Step(done int, loss float64)    { f(done) }
func (f progressFunc) Done()                          {}

// TestPretrainedFootprint: a pretrained run is weighed as torchvision's network (stride-4 stem, input
// resized in the model), not as the small-stem net of the same name, which needs 16× the activations and
// refused runs that fit (ResNet-18 on 224×224 folders at batch 128 "needed" ~30 GiB).
func TestPretrainedFootprint(t *testing.T) {
	small := footprintBuilder(Options{Model: "resnet18", Width: 1}).Footprint(224, 224, 3)
	pre := footprintBuilder(Options{Model: "resnet18", Width: 1, Pretrained: "r.onnx", PretrainedSize: 224}).Footprint(224, 224, 3)
	if pre.Activations*12 > small.Activations {
		t.Errorf("pretrained ResNet-18 at 224: %d activations per image, small-stem %d: the stem's stride 4 must show", pre.Activations, small.Activations)
	}
	frozen := footprintBuilder(Options{Pretrained: "r.onnx", PretrainedSize: 224, FreezeBackbone: true}).Footprint(224, 224, 3)
	if frozen.Activations >= pre.Activations || frozen.Params == 0 {
		t.Errorf("frozen backbone: %+v, fine-tuned %+v", frozen, pre)
	}
	if unknown := footprintBuilder(Options{Pretrained: "r.onnx"}).Footprint(224, 224, 3); unknown.Activations*100 > pre.Activations {
		t.Errorf("without Options.PretrainedSize the file's input size is unknown: only a lower bound may count, got %+v", unknown)
	}
}
