package resnet

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/images"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gonbgpu/gonbgpu/vision/conv"
)

// TestImageNetStemParameterCounts: with the ImageNet stem, ResNet-18/34/50 for 1000 classes have exactly
// torchvision's parameter counts (sum(p.numel() for p in model.parameters())), and a 224×224 image
// reaches the last stage at 7×7.
func TestImageNetStemParameterCounts(t *testing.T) {
	b := goBackend(t)
	for _, tc := range []struct {
		model string
		want  int
	}{{"resnet18", 11_689_512}, {"resnet34", 21_797_672}, {"resnet50", 25_557_032}} {
		builder := New(tc.model).ImageNetStem(true).NumClasses(1000)
		store, _, st := buildOnly(t, b, builder, shapes.Make(dtypes.Float32, 1, 224, 224, 3))
		if got := trainableParams(store); got != tc.want {
			t.Errorf("%s: %d trainable parameters, torchvision's has %d", builder.Name(), got, tc.want)
		}
		if w := store.GetVariable("/stem/conv/weights"); w == nil || !slices.Equal(w.Shape().Dimensions, []int{7, 7, 3, 64}) {
			t.Errorf("%s: stem kernel %v, want [7 7 3 64]", builder.Name(), w)
		}
		if st.convs == 0 {
			t.Errorf("%s: no convolutions counted", builder.Name())
		}
	}
	// Spatial sizes: 224 → 112 (stem conv) → 56 (max-pool) → 56, 28, 14, 7.
	g := NewGraph(b, "shape")
	store := model.NewStore()
	model.SetStore(g, store)
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 224, 224, 3))
	n := &net{Builder: New("resnet18").ImageNetStem(true), layout: conv.NHWC, pureGo: true}
	y := n.maxPool(n.convBNReLU(store.RootScope().In("stem"), "conv", "bn", []*Node{x}, 64, 7, 2, true))[0]
	if !slices.Equal(y.Shape().Dimensions, []int{1, 56, 56, 64}) {
		t.Errorf("stem output %v, want [1 56 56 64]", y.Shape().Dimensions)
	}
	if err := New("resnet20").ImageNetStem(true).Validate(); err == nil || !strings.Contains(err.Error(), "resnet20") {
		t.Errorf("ImageNet stem on resnet20: Validate() = %v, want an error naming it", err)
	}
}

// rgbBatch is syntheticBatch with the gray image on three channels.
func rgbBatch(rng *rand.Rand, n, size int) (images, labels *tensors.Tensor) {
	gray, labels := syntheticBatch(rng, n, size)
	src := tensors.MustCopyFlatData[float32](gray)
	rgb := make([]float32, 3*len(src))
	for i, v := range src {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, v, v
	}
	return tensors.FromFlatDataAndDimensions(rgb, n, size, size, 3), labels
}

// snapshot copies every variable's value.
func snapshot(store *model.Store) map[string][]float32 {
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		if v.Shape().DType == dtypes.Float32 {
			out[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	return out
}

// TestFreezeBackbone: only head/ trains; every backbone variable (weights, batch-norm scales, offsets and
// averages) keeps its value through training steps, while the head's change and the loss drops.
func TestFreezeBackbone(t *testing.T) {
	b := goBackend(t)
	for _, bn := range []BatchNormImpl{BatchNormExact, BatchNormGoMLX} {
		t.Run(bn.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			store := model.NewStore()
			store.SetParam(model.ParamInitialSeed, int64(5))
			builder := New("resnet18").Width(1.0 / 16).ImageNetStem(true).FreezeBackbone(true).BatchNorm(bn).NumClasses(2)
			tr := train.NewTrainer(b, store, builder.ModelFn(), loss.SparseCategoricalCrossEntropyLogits,
				optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
			images, labels := rgbBatch(rng, 16, 32)
			var before map[string][]float32
			var losses []float32
			for step := range 6 {
				batch, err := batchOf(images, labels).Clone()
				if err != nil {
					t.Fatal(err)
				}
				metrics, err := tr.TrainStep(batch)
				if err != nil {
					t.Fatalf("step %d: %+v", step, err)
				}
				losses = append(losses, tensors.ToScalar[float32](metrics[0]))
				if step == 0 {
					before = snapshot(store) // after the first step: the variables exist
				}
			}
			t.Logf("losses %v", losses)
			after := snapshot(store)
			headChanged := false
			for v := range store.RootScope().IterVariables() {
				path := v.Path()
				if !strings.HasPrefix(path, "/stem/") && !strings.HasPrefix(path, "/stage") && !strings.HasPrefix(path, "/head/") {
					continue // optimizer and trainer state
				}
				inHead := strings.HasPrefix(path, "/head/")
				if v.Trainable != inHead {
					t.Errorf("%s: trainable=%v", path, v.Trainable)
				}
				changed := !slices.Equal(before[path], after[path])
				if inHead {
					headChanged = headChanged || changed
				} else if changed {
					t.Errorf("backbone variable %s changed", path)
				}
			}
			if !headChanged {
				t.Errorf("the head did not train")
			}
			if !(losses[len(losses)-1] < losses[0]) {
				t.Errorf("loss did not drop: %v", losses)
			}
		})
	}
}

// TestFrozenBatchNorm: frozen batch norms normalise with their moving averages in training too (training
// and inference logits agree), never update them, and their scale and offset still train.
func TestFrozenBatchNorm(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	images, labels := rgbBatch(rng, 8, 16)
	clone := func(x *tensors.Tensor) *tensors.Tensor {
		c, err := x.Clone()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, bn := range []BatchNormImpl{BatchNormExact, BatchNormGoMLX} {
		t.Run(bn.String(), func(t *testing.T) {
			store := model.NewStore()
			builder := New("resnet20").Width(0.25).FrozenBatchNorm(true).BatchNormEpsilon(1e-5).BatchNorm(bn).NumClasses(2)
			run := func(training bool) []float32 {
				logits, _ := logitsAndGrads(t, b, store, builder, clone(images), training)
				return logits
			}
			run(false) // creates the variables
			// Non-trivial averages, so that using them (or not) shows in the logits.
			for v := range store.IterVariables() {
				if strings.HasSuffix(v.Path(), "/mean") || strings.HasSuffix(v.Path(), "/variance") {
					vals := tensors.MustCopyFlatData[float32](v.MustValue())
					for i := range vals {
						vals[i] += float32(0.3 + 0.2*rng.Float64())
					}
					if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)); err != nil {
						t.Fatal(err)
					}
				}
			}
			inference := run(false)
			averages := snapshot(store)
			training := run(true)
			if d := maxAbsDiff(training, inference); d > 1e-5 {
				t.Errorf("training-mode logits differ from inference by %g: batch statistics used", d)
			}
			for path, vals := range snapshot(store) {
				if (strings.HasSuffix(path, "/mean") || strings.HasSuffix(path, "/variance")) && !slices.Equal(vals, averages[path]) {
					t.Errorf("%s was updated", path)
				}
			}

			// Training steps, on a fresh store with a fixed initialisation: with a random one, a block's
			// ReLUs were sometimes all off for this tiny batch, its batch-norm gradient exactly zero, and
			// the check below flaky.
			store = model.NewStore()
			store.SetParam(model.ParamInitialSeed, int64(42))
			tr := train.NewTrainer(b, store, builder.ModelFn(), loss.SparseCategoricalCrossEntropyLogits,
				optimizer.StochasticGradientDescent().WithLearningRate(0.1).Done(), nil, nil)
			var first map[string][]float32
			for step := range 2 {
				if _, err := tr.TrainStep(batchOf(clone(images), clone(labels))); err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					first = snapshot(store)
				}
			}
			trained := snapshot(store)
			for _, name := range []string{"/stage1/block0/bn1/batch_normalization/scale", "/stage1/block0/bn1/batch_normalization/offset", "/head/dense/weights"} {
				if slices.Equal(trained[name], first[name]) {
					t.Errorf("%s did not train", name)
				}
			}
			for _, name := range []string{"/stage1/block0/bn1/batch_normalization/mean", "/stage1/block0/bn1/batch_normalization/variance"} {
				if !slices.Equal(trained[name], first[name]) {
					t.Errorf("%s was updated by training", name)
				}
			}
		})
	}
}

// TestMaxPoolSeparable: the pure-Go stem max-pool (separable, slices and maxima) equals GoMLX's MaxPool
// (3×3, stride 2, padding 1) on non-negative inputs of odd and even sizes, in value and gradient.
func TestMaxPoolSeparable(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(8, 9))
	for _, dims := range [][]int{{2, 3, 8, 6}, {3, 2, 7, 9}, {1, 1, 1, 2}} {
		x := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
		tensors.MutableFlatData(x, func(flat []float32) {
			for i := range flat {
				flat[i] = float32(0.01 + rng.Float64()) // positive: no ties, as after a ReLU away from 0
			}
		})
		outs, err := model.CallOnceN(b, model.NewStore(), func(_ *model.Scope, x *Node) []*Node {
			// x as CNHW [C, B, H, W] (spatial axes 2, 3) and as NHWC (axes 1, 2): the layouts net.maxPool
			// pools on XLA, against the separable form of the pure-Go backend.
			want := MaxPool(x).ChannelsAxis(images.ChannelsFirst).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
			got := maxPoolSeparable(maxPoolSeparable(x, 2), 3)
			weights := Iota(x.Graph(), want.Shape(), 3)
			gradWant := Gradient(ReduceAllSum(Mul(want, weights)), x)[0]
			gradGot := Gradient(ReduceAllSum(Mul(got, weights)), x)[0]
			wantNHWC := MaxPool(x).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
			gotNHWC := maxPoolSeparable(maxPoolSeparable(x, 1), 2)
			return []*Node{want, got, gradWant, gradGot, wantNHWC, gotNHWC}
		}, x)
		if err != nil {
			t.Fatalf("%v: %+v", dims, err)
		}
		if !outs[0].Shape().Equal(outs[1].Shape()) {
			t.Fatalf("%v: shape %s, want %s", dims, outs[1].Shape(), outs[0].Shape())
		}
		if d := maxAbsDiff(tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])); d != 0 {
			t.Errorf("%v: values differ by %g", dims, d)
		}
		if d := maxAbsDiff(tensors.MustCopyFlatData[float32](outs[2]), tensors.MustCopyFlatData[float32](outs[3])); d > 1e-6 {
			t.Errorf("%v: gradients differ by %g", dims, d)
		}
		if d := maxAbsDiff(tensors.MustCopyFlatData[float32](outs[4]), tensors.MustCopyFlatData[float32](outs[5])); d != 0 || !outs[4].Shape().Equal(outs[5].Shape()) {
			t.Errorf("%v as NHWC: values differ by %g (shapes %s, %s)", dims, d, outs[4].Shape(), outs[5].Shape())
		}
	}
}
