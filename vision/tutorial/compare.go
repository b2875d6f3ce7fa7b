package tutorial

import (
	"fmt"
	"math"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// Comparison is the hand-written model's loss and gradients against the library's on one batch.
type Comparison struct {
	OurLoss, LibraryLoss float64
	// Variables is the number of trainable variables both models have (same names, same sizes).
	Variables int
	// MaxGradientDiff is the largest difference between an entry of the two gradients, relative to the
	// largest gradient entry of all (float32 sums taken in different orders differ by rounding, which
	// is large relative to a gradient that nearly cancels out, but not relative to the gradient as a whole).
	MaxGradientDiff float64
	// Worst names the variable where MaxGradientDiff was found.
	Worst string
}

func (c Comparison) String() string {
	return fmt.Sprintf("loss: tutorial %.6f, library %.6f; %d trainable variables in both; the gradients differ by at most %.1e of the largest gradient entry (at %s)",
		c.OurLoss, c.LibraryLoss, c.Variables, c.MaxGradientDiff, c.Worst)
}

// CompareWithLibrary builds the library's ResNet-20 at width (vision/resnet, with the trainer's loss)
// and ResNet20 on the same fresh weights (seed), and returns both losses and how far apart their
// gradients are on the batch (images NHWC, labels [batch, 1] class indices). It errs if the two models
// do not have the same trainable variables.
func CompareWithLibrary(b compute.Backend, width float64, classes int, seed int64, images, labels *tensors.Tensor) (Comparison, error) {
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, seed)
	library := func(scope *model.Scope, x *Node) *Node {
		return resnet.New("resnet20").Width(width).NumClasses(classes).Build(scope, x)
	}
	libraryLoss := func(logits, labels *Node) *Node {
		return trainer.CrossEntropy(0)([]*Node{labels}, []*Node{logits})
	}
	var c Comparison
	libLoss, libGrads, err := lossAndGrads(b, store, library, libraryLoss, images, labels)
	if err != nil {
		return c, fmt.Errorf("library model: %w", err)
	}
	ourLoss, ourGrads, err := lossAndGrads(b, store, ResNet20Model(width, classes), Loss, images, labels)
	if err != nil {
		return c, fmt.Errorf("tutorial model: %w", err)
	}
	c.OurLoss, c.LibraryLoss = ourLoss, libLoss
	names := make([]string, 0, len(libGrads))
	for p := range libGrads {
		names = append(names, p)
	}
	sort.Strings(names)
	if len(ourGrads) != len(libGrads) {
		return c, fmt.Errorf("the tutorial's model trains %d variables, the library's %d", len(ourGrads), len(libGrads))
	}
	scale, worst := 1e-30, 0.0
	for _, p := range names {
		ours, want := ourGrads[p], libGrads[p]
		if len(ours) != len(want) {
			return c, fmt.Errorf("variable %s: %d values in the tutorial's model, %d in the library's", p, len(ours), len(want))
		}
		for i := range want {
			scale = max(scale, math.Abs(want[i]))
			if d := math.Abs(ours[i] - want[i]); d >= worst {
				worst, c.Worst = d, p
			}
		}
		c.Variables++
	}
	c.MaxGradientDiff = worst / scale
	return c, nil
}

// lossAndGrads runs one training-mode graph: net's loss on the batch and its gradient with respect to
// every trainable variable, by variable path.
func lossAndGrads(b compute.Backend, store *model.Store, net Model, lossFn func(logits, labels *Node) *Node,
	images, labels *tensors.Tensor) (float64, map[string][]float64, error) {
	var paths []string
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x, y *Node) []*Node {
		scope.SetTraining(x.Graph(), true)
		loss := lossFn(net(scope.In("model"), x), y)
		vars, grads := Gradients(scope, loss)
		paths = paths[:0]
		for _, v := range vars {
			paths = append(paths, v.Path())
		}
		outs := []*Node{ConvertDType(loss, dtypes.Float64)} // read back as float64, whatever the model's dtype
		for _, g := range grads {
			outs = append(outs, ConvertDType(g, dtypes.Float64))
		}
		return outs
	}, images, labels)
	if err != nil {
		return 0, nil, err
	}
	grads := map[string][]float64{}
	for i, p := range paths {
		grads[p] = tensors.MustCopyFlatData[float64](outs[i+1])
	}
	return tensors.MustCopyFlatData[float64](outs[0])[0], grads, nil
}
