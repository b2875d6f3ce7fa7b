package tutorial

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

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
// gradients. In float64 they agree to rounding (1e-12); float32 sums taken in other orders (the library
// splits the batch in parts on 2+ cores, keeps channels first and hand-writes batch norm's gradient) leave
// differences of ~1e-2 of the largest entry on real images, where cancellations are large.
func TestSameLossAndGradientsAsLibrary(t *testing.T) {
	b := testutil.GoBackend(t)
	images, labels := batch(3, 32, 12)
	c, err := CompareWithLibrary(b, width, 10, 7, images, labels)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("float32:", c)
	if math.Abs(c.OurLoss-c.LibraryLoss) > 1e-5*math.Abs(c.LibraryLoss) || c.LibraryLoss <= 0 || c.Variables < 60 {
		t.Errorf("float32: %v", c)
	}
	images64 := tensors.FromShape(shapes.Make(dtypes.Float64, images.Shape().Dimensions...))
	tensors.MustMutableFlatData(images64, func(out []float64) {
		for i, v := range tensors.MustCopyFlatData[float32](images) {
			out[i] = float64(v)
		}
	})
	c, err = CompareWithLibrary(b, width, 10, 7, images64, labels)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("float64:", c)
	if math.Abs(c.OurLoss-c.LibraryLoss) > 1e-12*math.Abs(c.LibraryLoss) || c.Variables < 60 || c.MaxGradientDiff > 1e-9 {
		t.Errorf("float64: %d variables compared (want ≥ 60); loss %v vs %v; gradients differ by up to %.2g at %s",
			c.Variables, c.OurLoss, c.LibraryLoss, c.MaxGradientDiff, c.Worst)
	}
}

func TestSource(t *testing.T) {
	src, err := Source("ResidualBlock", "bnEpsilon")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(src, "// ResidualBlock is the basic block") || !strings.Contains(src, "return ReLU(Add(y, shortcut))\n}") ||
		!strings.Contains(src, "bnEpsilon  = 1e-3") {
		t.Errorf("source:\n%s", src)
	}
	if _, err := Source("NoSuchThing"); err == nil || !strings.Contains(err.Error(), `"NoSuchThing"`) {
		t.Errorf("unknown name: %v", err)
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
