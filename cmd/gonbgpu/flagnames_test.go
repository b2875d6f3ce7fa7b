package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/recipe"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// TestOptionFlags: the library names the options (recipe.Options' fields, and the trainer.Config fields
// recipe sets from them); train shows each as the flag a user typed, the alias --gpus never.
func TestOptionFlags(t *testing.T) {
	var o recipe.Options
	fs, _ := trainFlags(&o)
	flags := optionFlags(fs, &o)
	for in, want := range map[string]string{
		"Options.Batch 4096 is more than…":                                       "--batch 4096 is more than…",
		"Options.PretrainedSize and Options.FromScratch need Options.Pretrained": "--pretrained-size and Options.FromScratch need --pretrained",
		"Options.Devices 3":                                  "--devices 3",
		"Options.ImageSize must be positive":                 "--size must be positive",
		"Options.InitFrom x is also Options.Out":             "--init-from x is also --out",
		"Options.Holdout 0.9 of the 10 training images":      "--holdout 0.9 of the 10 training images",
		"Options.HeadLRScale 10 needs Options.Optimizer sgd": "--head-lr-scale 10 needs --optimizer sgd",
	} {
		if got := flags.Replace(in); got != want {
			t.Errorf("%q shows as %q, want %q", in, got, want)
		}
	}
	// A trainer error reaches the CLI naming Config fields: the CLI shows recipe's flags for them.
	err := withFlags(&trainer.DivergedError{Divergence: trainer.Divergence{Epoch: 2, Step: 3, LR: 0.1}, OutDir: "runs/x"}, flags)
	if msg := err.Error(); !strings.Contains(msg, "(--lr, now 0.1") || strings.Contains(msg, "Config.") {
		t.Errorf("a divergence shows as %q: want --lr and no Config field", msg)
	}
	// The trainer names the head's rate by its Config field: the CLI shows the flag that set it.
	if got := withFlags(errors.New("Config.Resume: checkpoint x: Config.LRScales [] → [{/model/head/ 10}]"), flags).Error(); !strings.Contains(got, "--head-lr-scale") {
		t.Errorf("Config.LRScales shows as %q, want --head-lr-scale", got)
	}
	var d *trainer.DivergedError
	if !errors.As(err, &d) {
		t.Errorf("withFlags lost the error it wraps: %T", err)
	}
	if err := withFlags(trainer.ErrInterrupted, flags); !errors.Is(err, trainer.ErrInterrupted) || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("ErrInterrupted shows as %v", err)
	}
}
