package recipe

import (
	"fmt"

	"github.com/gonbgpu/gonbgpu/vision/optim"
)

// Defaults are the options a run takes for those left zero, written once: [Prepare] fills them in,
// `gonbgpu train` shows them as its flags' defaults, and a notebook that wants to know starts from them.
// The defaults that depend on other choices are beside it: the model on the platform
// (resnet.DefaultModel), the learning rate, momentum and weight decay on the optimizer
// ([OptimizerDefaults]).
func Defaults() Options {
	return Options{
		Dataset:     "fashion-mnist",
		ImageSize:   32,  // a folder's images are resized to 32×32, CIFAR-10's size
		ValFraction: 0.2, // of a folder's images, held out for testing
		Width:       1,
		Precision:   "fp32",
		Epochs:      10,
		Batch:       128,
		Optimizer:   "sgd",
		Schedule:    string(optim.OneCycle),
		Seed:        1,
		HeadLRScale: 1, // a new head on pretrained weights learns at Options.LR, as every other layer
	}
}

// The optimizers' defaults: SGD with Nesterov momentum and weight decay, whose peak learning rate grows
// with the batch (the linear scaling rule, 0.1 at a batch of 128); Adam at its usual rate, without
// weight decay.
const (
	sgdLRPer128    = 0.1
	sgdMomentum    = 0.9
	sgdWeightDecay = 5e-4
	adamLR         = 1e-3
)

// OptimizerDefaults returns the learning rate, momentum and weight decay the optimizer takes for those
// left zero, at the given global batch size; ok is false for an optimizer recipe does not know.
func OptimizerDefaults(optimizer string, batch int) (lr, momentum, weightDecay float64, ok bool) {
	switch optimizer {
	case "sgd":
		return sgdLRPer128 * float64(batch) / 128, sgdMomentum, sgdWeightDecay, true
	case "adam":
		return adamLR, 0, 0, true
	}
	return 0, 0, 0, false
}

// DefaultsHelp says, for the flags' help, what [OptimizerDefaults] gives each of "lr", "momentum" and
// "weight-decay".
func DefaultsHelp(flag string) string {
	switch flag {
	case "lr":
		return fmt.Sprintf("%g×batch/128 for sgd, %g for adam", sgdLRPer128, adamLR)
	case "momentum":
		return fmt.Sprintf("%g for sgd", sgdMomentum)
	case "weight-decay":
		return fmt.Sprintf("%g for sgd, 0 for adam", sgdWeightDecay)
	}
	return ""
}

// orDefault sets *v to d when *v is zero.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
