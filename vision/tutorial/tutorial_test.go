package tutorial

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
	"github.com/gonbgpu/gonbgpu/vision/optim"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

const width = 0.25

func batch(seed uint64, n, size int) (images, labels *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(seed, 1))
	images = tensors.FromShape(shapes.Make(dtypes.Float32, n, size, size, 1))
	tensors.MustMutableFlatData(images, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(rng.NormFloat64())
		}
	})
	l := make([]int32, n)
	for i := range l {
		l[i] = int32(rng.IntN(10))
	}
	return images, tensors.FromFlatDataAndDimensions(l, n, 1) // the loader's labels: [batch, 1]
}

// lossAndGrads runs one training-mode graph: the model's loss on the batch (lossFn) and its gradient with
// respect to every trainable variable, by variable path.
func lossAndGrads(t *testing.T, b compute.Backend, store *model.Store, net Model, lossFn func(logits, labels *Node) *Node,
	images, labels *tensors.Tensor) (float64, map[string][]float32) {
	t.Helper()
	var paths []string
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x, y *Node) []*Node {
		scope.SetTraining(x.Graph(), true)
		loss := lossFn(net(scope.In("model"), x), y)
		vars, grads := Gradients(scope, loss)
		paths = paths[:0]
		for _, v := range vars {
			paths = append(paths, v.Path())
		}
		return append([]*Node{loss}, grads...)
	}, images, labels)
	if err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float32{}
	for i, p := range paths {
		grads[p] = tensors.MustCopyFlatData[float32](outs[i+1])
	}
	return float64(tensors.MustCopyFlatData[float32](outs[0])[0]), grads
}

func library(scope *model.Scope, x *Node) *Node {
	return resnet.New("resnet20").Width(width).BatchParts(2).Build(scope, x)
}

func libraryLoss(logits, labels *Node) *Node {
	return trainer.CrossEntropy(0)([]*Node{labels}, []*Node{logits})
}

func closeTo(a, b []float32, tol float64) (bool, float64) {
	worst, scale := 0.0, 1e-6
	for i := range a {
		worst = max(worst, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return worst <= tol*scale, worst / scale
}

// The chapter's hand-written ResNet-20, loss and gradients equal the library's (vision/resnet with the
// trainer's loss) on the same batch and the same weights: the same variables, the same loss, the same
// gradients.
func TestSameLossAndGradientsAsLibrary(t *testing.T) {
	b := testutil.GoBackend(t)
	images, labels := batch(3, 8, 12)
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(7))
	libLoss, libGrads := lossAndGrads(t, b, store, library, libraryLoss, images, labels)
	ourLoss, ourGrads := lossAndGrads(t, b, store, ResNet20Model(width, 10), Loss, images, labels)

	if math.Abs(ourLoss-libLoss) > 1e-5*math.Abs(libLoss) || libLoss <= 0 {
		t.Errorf("loss: tutorial %v, library %v", ourLoss, libLoss)
	}
	var names []string
	for p := range libGrads {
		names = append(names, p)
	}
	sort.Strings(names)
	if len(ourGrads) != len(libGrads) || len(names) < 60 {
		t.Errorf("tutorial trains %d variables, library %d", len(ourGrads), len(libGrads))
	}
	for _, p := range names {
		ours, ok := ourGrads[p]
		if !ok || len(ours) != len(libGrads[p]) {
			t.Errorf("%s: the tutorial's model has no variable of that name and size", p)
			continue
		}
		if ok, rel := closeTo(ours, libGrads[p], 2e-3); !ok {
			t.Errorf("%s: gradients differ by %.2g of their largest value", p, rel)
		}
	}
}

// One hand-written SGD step (TrainStep) moves the weights exactly as the library's optimizer (vision/optim
// SGD without momentum or weight decay) does from the same weights, on the same batch.
func TestTrainStepEqualsLibraryOptimizer(t *testing.T) {
	b := testutil.GoBackend(t)
	images, labels := batch(5, 8, 12)
	const lr = 0.1
	ours := model.NewStore()
	ours.SetParam(model.ParamInitialSeed, int64(11))
	net := ResNet20Model(width, 10)
	// Create and initialise the variables, then copy them: both steps start from the same weights.
	if _, err := model.CallOnce(b, ours, func(scope *model.Scope, x *Node) *Node {
		return Predict(scope.In("model"), net, x)
	}, images); err != nil {
		t.Fatal(err)
	}
	lib, err := ours.Clone()
	if err != nil {
		t.Fatal(err)
	}
	initial, err := ours.Clone()
	if err != nil {
		t.Fatal(err)
	}
	outs, err := model.CallOnceN(b, ours, func(scope *model.Scope, x, y *Node) []*Node {
		loss, acc := TrainStep(scope.In("model"), net, lr, x, y)
		return []*Node{loss, acc}
	}, images, labels)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.New(optim.Config{Name: "sgd", LR: lr, Schedule: optim.Constant, TotalSteps: 1})
	if err != nil {
		t.Fatal(err)
	}
	libOuts, err := model.CallOnceN(b, lib, func(scope *model.Scope, x, y *Node) []*Node {
		scope.SetTraining(x.Graph(), true)
		loss := libraryLoss(library(scope.In("model"), x), y)
		opt.UpdateGraph(scope, x.Graph(), loss)
		return []*Node{loss}
	}, images, labels)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := tensors.MustCopyFlatData[float32](outs[0])[0], tensors.MustCopyFlatData[float32](libOuts[0])[0]; math.Abs(float64(a-b)) > 1e-5*math.Abs(float64(b)) {
		t.Errorf("step loss: tutorial %v, library %v", a, b)
	}
	if acc := tensors.MustCopyFlatData[float32](outs[1])[0]; acc < 0 || acc > 1 {
		t.Errorf("batch accuracy %v out of [0, 1]", acc)
	}
	compared, moved := 0, 0
	for v := range ours.IterVariables() {
		if !v.Trainable {
			continue
		}
		w := lib.GetVariable(v.Path())
		if w == nil {
			t.Errorf("%s: not in the library's store", v.Path())
			continue
		}
		got, want := tensors.MustCopyFlatData[float32](v.MustValue()), tensors.MustCopyFlatData[float32](w.MustValue())
		if ok, rel := closeTo(got, want, 1e-4); !ok {
			t.Errorf("%s after one step: differs by %.2g of its largest value", v.Path(), rel)
		}
		compared++
		before := tensors.MustCopyFlatData[float32](initial.GetVariable(v.Path()).MustValue())
		if same, _ := closeTo(got, before, 0); !same {
			moved++
		}
	}
	if compared < 60 || moved < compared*9/10 {
		t.Errorf("%d variables compared, %d moved by the step: want ≥ 60, nearly all moved", compared, moved)
	}
}
