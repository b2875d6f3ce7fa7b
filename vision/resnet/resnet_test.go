package resnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	_ "github.com/gomlx/gomlx/backends/default"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
	"github.com/gonbgpu/gonbgpu/vision/conv"
)

// goBackend is the pure-Go backend, or the one GONBGPU_TEST_BACKEND configures (the GPU in
// scripts/gpu-check.sh, see testutil.Backend); tolerances then allow for TF32.
var goBackend = testutil.Backend

func randomImages(rng *rand.Rand, b, h, w, c int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, b, h, w, c))
	tensors.MutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(rng.NormFloat64())
		}
	})
	return t
}

// buildOnly builds the model's graph (creating its variables) without running it.
func buildOnly(t *testing.T, b compute.Backend, builder *Builder, imageShape shapes.Shape) (*model.Store, *Node, stats) {
	t.Helper()
	store := model.NewStore()
	g := NewGraph(b, "build")
	images := Parameter(g, "images", imageShape)
	var logits *Node
	var st stats
	model.SetStore(g, store)
	logits, st = builder.build(store.RootScope(), images)
	return store, logits, st
}

func trainableParams(store *model.Store) int {
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

// TestOutputShapes runs every model (and its plain twin) in training and inference mode on 28×28×1 and
// 32×32×3 batches.
func TestOutputShapes(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, name := range Models() {
		width := 0.25
		if strings.HasSuffix(name, "20") {
			width = 0.5
		}
		for _, img := range [][3]int{{28, 28, 1}, {32, 32, 3}} {
			for _, plain := range []bool{false, true} {
				builder := New(name).Width(width).Plain(plain).NumClasses(7)
				t.Run(fmt.Sprintf("%s_%dx%dx%d", builder.Name(), img[0], img[1], img[2]), func(t *testing.T) {
					store := model.NewStore()
					images := randomImages(rng, 2, img[0], img[1], img[2])
					// Training mode (batch statistics), then inference (moving averages).
					for _, training := range []bool{true, false} {
						outs, err := model.CallOnceN(b, store, func(scope *model.Scope, images *Node) []*Node {
							scope.Store().SetTraining(images.Graph(), training)
							return []*Node{builder.Build(scope, images)}
						}, images)
						if err != nil {
							t.Fatalf("training=%v: %+v", training, err)
						}
						if got := outs[0].Shape().Dimensions; len(got) != 2 || got[0] != 2 || got[1] != 7 {
							t.Fatalf("training=%v: logits %s, want [2, 7]", training, outs[0].Shape())
						}
						for _, v := range tensors.MustCopyFlatData[float32](outs[0]) {
							if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
								t.Fatalf("training=%v: non-finite logit %v", training, v)
							}
						}
					}
				})
			}
		}
	}
}

// TestParameterCounts checks the trainable parameter counts against the published architectures:
//   - ResNet-18 with the small-image stem, 3 input channels and 10 classes: torchvision's 11,689,512 minus
//     the 7×7 stem (9,408) plus a 3×3 one (1,728), minus the 1000-class head (513,000) plus a 10-class one
//     (5,130) = 11,173,962.
//   - ResNet-20 (He et al., option A: parameter-free shortcuts) has 269,722 (= its plain twin); our projection
//     shortcuts (option B) add two 1×1 convolutions and their batch norms: 16·32 + 2·32 + 32·64 + 2·64 = 2,752,
//     so 272,474 (the usual "0.27M").
func TestParameterCounts(t *testing.T) {
	b := goBackend(t)
	for _, tc := range []struct {
		builder  *Builder
		channels int
		want     int
	}{
		{New("resnet18"), 3, 11_173_962},
		{New("resnet20"), 3, 272_474},
		{New("resnet20").Plain(true), 3, 269_722},
	} {
		store, _, _ := buildOnly(t, b, tc.builder, shapes.Make(dtypes.Float32, 1, 32, 32, tc.channels))
		got := trainableParams(store)
		t.Logf("%s: %d trainable parameters", tc.builder.Name(), got)
		if math.Abs(float64(got-tc.want)) > 0.005*float64(tc.want) {
			t.Errorf("%s has %d trainable parameters, want %d (±0.5%%)", tc.builder.Name(), got, tc.want)
		}
	}
}

// TestPlainTwin checks that a plain model has the same main-path convolutions as its residual twin, and no
// residual additions or shortcut projections.
func TestPlainTwin(t *testing.T) {
	b := goBackend(t)
	shape := shapes.Make(dtypes.Float32, 1, 32, 32, 3)
	for _, name := range Models() {
		resStore, _, res := buildOnly(t, b, New(name).Width(0.25), shape)
		plainStore, _, plain := buildOnly(t, b, New(name).Width(0.25).Plain(true), shape)
		blocks := 0
		for _, n := range specs[name].blocks {
			blocks += n
		}
		perBlock := 2
		if specs[name].block == bottleneck {
			perBlock = 3
		}
		if want := 1 + perBlock*blocks; res.convs != want || plain.convs != want {
			t.Errorf("%s: main-path convolutions residual=%d plain=%d, want %d", name, res.convs, plain.convs, want)
		}
		if res.residualAdds != blocks {
			t.Errorf("%s: %d residual additions, want %d", name, res.residualAdds, blocks)
		}
		if plain.residualAdds != 0 || plain.projections != 0 {
			t.Errorf("%s plain: %d residual additions and %d projections, want none", name, plain.residualAdds,
				plain.projections)
		}
		if res.projections == 0 {
			t.Errorf("%s: no projection shortcuts", name)
		}
		countConvVars := func(store *model.Store) (main, shortcut int) {
			for v := range store.IterVariables() {
				if strings.HasSuffix(v.Path(), "/weights") && !strings.HasPrefix(v.Path(), "/head/") {
					if strings.Contains(v.Path(), "/shortcut/") {
						shortcut++
					} else {
						main++
					}
				}
			}
			return
		}
		resMain, resShort := countConvVars(resStore)
		plainMain, plainShort := countConvVars(plainStore)
		if resMain != plainMain || plainShort != 0 || resShort != res.projections {
			t.Errorf("%s: conv kernels residual main=%d shortcut=%d, plain main=%d shortcut=%d", name,
				resMain, resShort, plainMain, plainShort)
		}
	}
}

// TestScopeNames checks the documented variable paths.
func TestScopeNames(t *testing.T) {
	store, _, _ := buildOnly(t, goBackend(t), New("resnet20").Width(0.25), shapes.Make(dtypes.Float32, 1, 28, 28, 1))
	want := []string{
		"/stem/conv/weights",
		"/stem/bn/batch_normalization/scale",
		"/stage1/block0/conv1/weights",
		"/stage1/block0/bn1/batch_normalization/offset",
		"/stage1/block2/conv2/weights",
		"/stage2/block0/shortcut/conv/weights",
		"/stage2/block0/shortcut/bn/batch_normalization/mean",
		"/stage3/block2/bn2/batch_normalization/variance",
		"/head/dense/weights",
	}
	for _, path := range want {
		if store.GetVariable(path) == nil {
			var have []string
			for v := range store.IterVariables() {
				have = append(have, v.Path())
			}
			t.Fatalf("no variable %q; have:\n%s", path, strings.Join(have, "\n"))
		}
	}
}

func TestUnknownModel(t *testing.T) {
	err := New("resnet19").Validate()
	if err == nil || !strings.Contains(err.Error(), "resnet19") || !strings.Contains(err.Error(), "resnet20") {
		t.Fatalf("Validate() = %v, want an error naming the model and the valid ones", err)
	}
	if err := New(" ResNet56 ").Validate(); err != nil {
		t.Errorf("New(\" ResNet56 \"): %v", err)
	}
	if !IsValidModel("resnet50") || IsValidModel("vgg16") {
		t.Errorf("IsValidModel is wrong")
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Build with an unknown model did not panic")
		}
	}()
	buildOnly(t, goBackend(t), New("nope"), shapes.Make(dtypes.Float32, 1, 28, 28, 1))
}

// syntheticBatch makes n images of size×size×1 in 2 classes: class 1 has a bright square in the top-left
// quadrant, class 0 in the bottom-right; plus noise.
func syntheticBatch(rng *rand.Rand, n, size int) (images, labels *tensors.Tensor) {
	images = tensors.FromShape(shapes.Make(dtypes.Float32, n, size, size, 1))
	labels = tensors.FromShape(shapes.Make(dtypes.Int32, n, 1))
	tensors.MutableFlatData(labels, func(l []int32) {
		tensors.MutableFlatData(images, func(img []float32) {
			for i := range n {
				l[i] = int32(i % 2)
				for y := range size {
					for x := range size {
						v := 0.3 * rng.NormFloat64()
						inTL := y < size/2 && x < size/2
						inBR := y >= size/2 && x >= size/2
						if (l[i] == 1 && inTL) || (l[i] == 0 && inBR) {
							v += 1
						}
						img[(i*size+y)*size+x] = float32(v)
					}
				}
			}
		})
	})
	return
}

func batchOf(images, labels *tensors.Tensor) train.Batch {
	return train.Batch{Inputs: []*tensors.Tensor{images}, Labels: []*tensors.Tensor{labels}}
}

// TestTrainingReducesLoss trains small models a few steps on a synthetic 2-class set with Adam and SGD, and
// checks that the loss drops.
func TestTrainingReducesLoss(t *testing.T) {
	b := goBackend(t)
	adam := func() optimizer.Interface { return optimizer.Adam().LearningRate(0.01).Done() }
	sgd := func() optimizer.Interface { return optimizer.StochasticGradientDescent().WithLearningRate(0.1).Done() }
	for _, tc := range []struct {
		builder *Builder
		opt     func() optimizer.Interface
		name    string
	}{
		{New("resnet20").Width(0.5).NumClasses(2), adam, "adam"},
		{New("resnet20").Width(0.5).NumClasses(2).Plain(true), adam, "adam"},
		{New("resnet20").Width(0.5).NumClasses(2), sgd, "sgd"},
	} {
		t.Run(tc.builder.Name()+"_"+tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			store := model.NewStore()
			store.SetParam(model.ParamInitialSeed, int64(42)) // deterministic: the check must not depend on luck
			trainer := train.NewTrainer(b, store, tc.builder.ModelFn(),
				loss.SparseCategoricalCrossEntropyLogits, tc.opt(), nil, nil)
			const steps = 12
			var losses []float64
			for step := range steps {
				metrics, err := trainer.TrainStep(batchOf(syntheticBatch(rng, 16, 12)))
				if err != nil {
					t.Fatalf("step %d: %+v", step, err)
				}
				losses = append(losses, float64(tensors.ToScalar[float32](metrics[0])))
			}
			first := losses[0]
			last := (losses[steps-1] + losses[steps-2] + losses[steps-3]) / 3
			t.Logf("losses: %.3f", losses)
			if !(last < 0.6*first) {
				t.Errorf("loss did not drop enough: %.4f -> %.4f (mean of the last 3)", first, last)
			}
		})
	}
}

// TestInference checks that inference uses the batch-norm moving averages: with a ~zero learning rate the
// averages converge to the statistics of the one batch trained on, so evaluating that batch must give the
// training loss; and a batch of another size evaluates too.
func TestInference(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	store := model.NewStore()
	builder := New("resnet20").Width(0.25).NumClasses(2)
	trainer := train.NewTrainer(b, store, builder.ModelFn(), loss.SparseCategoricalCrossEntropyLogits,
		// (a learning rate <= 0 means "the default" to GoMLX's SGD: use a negligible one instead).
		optimizer.StochasticGradientDescent().WithLearningRate(1e-12).Done(), nil, nil)
	images, labels := syntheticBatch(rng, 8, 12)
	var trainLoss float64
	for step := range 3 {
		batch, err := batchOf(images, labels).Clone()
		if err != nil {
			t.Fatal(err)
		}
		metrics, err := trainer.TrainStep(batch)
		if err != nil {
			t.Fatalf("step %d: %+v", step, err)
		}
		trainLoss = float64(tensors.ToScalar[float32](metrics[0]))
	}
	evalMetrics, err := trainer.EvalStep(batchOf(images, labels))
	if err != nil {
		t.Fatalf("eval: %+v", err)
	}
	evalLoss := float64(tensors.ToScalar[float32](evalMetrics[0]))
	t.Logf("train loss %.6f, eval loss %.6f", trainLoss, evalLoss)
	if math.Abs(evalLoss-trainLoss) > 1e-3*max(1, math.Abs(trainLoss)) {
		t.Errorf("eval loss %.6f != train loss %.6f: inference does not use the moving averages right", evalLoss, trainLoss)
	}
	mean := store.GetVariable("/stage2/block0/bn1/batch_normalization/mean")
	if mean == nil {
		t.Fatal("no batch-norm moving mean")
	}
	nonZero := false
	for _, v := range tensors.MustCopyFlatData[float32](mean.MustValue()) {
		nonZero = nonZero || v != 0
	}
	if !nonZero {
		t.Errorf("batch-norm moving mean was not updated by training")
	}
	if _, err := trainer.EvalStep(batchOf(syntheticBatch(rng, 3, 12))); err != nil {
		t.Errorf("eval of a batch of 3: %+v", err)
	}
}

// TestConfigurationsAgree builds ResNet-20 in the pure-Go configuration (CNHW, lowered convolutions, exact
// batch norm) and in the XLA one (NHWC, native convolutions, GoMLX's batch norm) on the same variables:
// logits must agree in training and inference mode, and the variable gradients must agree between the two
// layouts/convolution implementations (with the same batch norm).
func TestConfigurationsAgree(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(13, 14))
	images := randomImages(rng, 3, 12, 12, 1)
	store := model.NewStore()
	pureGo := New("resnet20").Width(0.25).NumClasses(3)
	xlaLike := New("resnet20").Width(0.25).NumClasses(3).Layout(conv.NHWC).ConvImpl(conv.Native).BatchNorm(BatchNormGoMLX)
	nhwcExact := New("resnet20").Width(0.25).NumClasses(3).Layout(conv.NHWC).ConvImpl(conv.Native).BatchNorm(BatchNormExact)
	run := func(builder *Builder, training bool) (logits []float32, grads [][]float32) {
		return logitsAndGrads(t, b, store, builder, images, training)
	}
	// Training mode first (it also updates the moving averages: each run below does one update, in the same
	// order for every configuration, so compare inference right after the same number of updates).
	logitsA, gradsA := run(pureGo, true)
	logitsB, _ := run(xlaLike, true)
	logitsC, gradsC := run(nhwcExact, true)
	if d := maxAbsDiff(logitsA, logitsB); d > testutil.Tol(b, 1e-4) {
		t.Errorf("training logits: pure-Go configuration vs XLA-like differ by %g", d)
	}
	if d := maxAbsDiff(logitsA, logitsC); d > testutil.Tol(b, 1e-4) {
		t.Errorf("training logits: CNHW/lowered vs NHWC/native differ by %g", d)
	}
	if len(gradsA) != len(gradsC) || len(gradsA) == 0 {
		t.Fatalf("%d vs %d gradients", len(gradsA), len(gradsC))
	}
	for i := range gradsA {
		if d := maxAbsDiff(gradsA[i], gradsC[i]); d > testutil.Tol(b, 1e-3)*max(1, maxAbs(gradsC[i])) {
			t.Errorf("gradient #%d: CNHW/lowered vs NHWC/native differ by %g (max |g| %g)", i, d, maxAbs(gradsC[i]))
		}
	}
	inferA, _ := run(pureGo, false)
	inferB, _ := run(xlaLike, false)
	if d := maxAbsDiff(inferA, inferB); d > testutil.Tol(b, 1e-4) {
		t.Errorf("inference logits: pure-Go configuration vs XLA-like differ by %g", d)
	}
}

// logitsAndGrads runs builder's model once on images with the variables of store and returns its logits
// and, in training mode, the gradients of Σ logits² with respect to every trainable variable it uses (one
// training-mode run also updates the batch-norm moving averages).
func logitsAndGrads(t *testing.T, b compute.Backend, store *model.Store, builder *Builder, images *tensors.Tensor,
	training bool) (logits []float32, grads [][]float32) {
	t.Helper()
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, training)
		logits := builder.Build(scope, x)
		res := []*Node{logits}
		if training {
			var vars []*Node
			for v := range store.IterVariables() {
				if v.Trainable && v.InUseByGraph(g) {
					vars = append(vars, v.NodeValue(g))
				}
			}
			res = append(res, Gradient(ReduceAllSum(Square(logits)), vars...)...)
		}
		return res
	}, images)
	if err != nil {
		t.Fatalf("%s: %+v", builder.Name(), err)
	}
	logits = tensors.MustCopyFlatData[float32](outs[0])
	for _, o := range outs[1:] {
		grads = append(grads, tensors.MustCopyFlatData[float32](o))
	}
	return logits, grads
}

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, v := range a {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestBatchPartsAgree: a batch split into parts inside the graph (Builder.BatchParts) computes the same
// logits, gradients and batch-norm moving averages as the whole batch, since the parts share their
// batch-norm statistics.
func TestBatchPartsAgree(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(21, 22))
	images := randomImages(rng, 8, 12, 12, 1)
	store := model.NewStore()
	type result struct {
		logits   []float32
		grads    [][]float32
		averages map[string][]float32
	}
	// Moving averages are restored to this snapshot before each training run, so that every run starts
	// from the same state and makes exactly one update.
	var snapshot map[string][]float32
	averages := func() map[string][]float32 {
		m := map[string][]float32{}
		for v := range store.IterVariables() {
			if !v.Trainable && v.DType() == dtypes.Float32 && strings.Contains(v.Path(), "batch_normalization") {
				m[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
			}
		}
		return m
	}
	run := func(parts int, training bool) result {
		builder := New("resnet20").Width(0.25).NumClasses(3).BatchParts(parts)
		if snapshot != nil {
			for v := range store.IterVariables() {
				if s, ok := snapshot[v.Path()]; ok {
					if err := v.SetValue(tensors.FromFlatDataAndDimensions(slices.Clone(s), v.Shape().Dimensions...)); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		var r result
		r.logits, r.grads = logitsAndGrads(t, b, store, builder, images, training)
		r.averages = averages()
		return r
	}
	run(1, false) // creates the variables
	snapshot = averages()
	whole := run(1, true)
	if len(whole.grads) == 0 || len(whole.averages) == 0 {
		t.Fatalf("no gradients (%d) or moving averages (%d)", len(whole.grads), len(whole.averages))
	}
	for _, parts := range []int{2, 4} {
		split := run(parts, true)
		if d := maxAbsDiff(whole.logits, split.logits); d > testutil.Tol(b, 1e-4) {
			t.Errorf("%d parts: training logits differ by %g", parts, d)
		}
		if len(split.grads) != len(whole.grads) {
			t.Fatalf("%d parts: %d gradients, want %d", parts, len(split.grads), len(whole.grads))
		}
		for i := range whole.grads {
			if d := maxAbsDiff(whole.grads[i], split.grads[i]); d > testutil.Tol(b, 1e-3)*max(1, maxAbs(whole.grads[i])) {
				t.Errorf("%d parts: gradient #%d differs by %g (max |g| %g)", parts, i, d, maxAbs(whole.grads[i]))
			}
		}
		for name, want := range whole.averages {
			if d := maxAbsDiff(want, split.averages[name]); d > testutil.Tol(b, 1e-4) {
				t.Errorf("%d parts: moving average %s differs by %g", parts, name, d)
			}
		}
	}
	// Inference (after the same updates) agrees too.
	if d := maxAbsDiff(run(1, false).logits, run(4, false).logits); d > testutil.Tol(b, 1e-4) {
		t.Errorf("inference logits differ by %g", d)
	}
	if err := New("resnet20").BatchParts(-1).Validate(); err == nil {
		t.Errorf("no error for BatchParts(-1)")
	}
}

func TestAutoParts(t *testing.T) {
	for _, c := range []struct{ batch, cores, want int }{
		{128, 2, 2}, {128, 16, 4}, {128, 1, 1}, {64, 3, 2}, {48, 4, 3}, {20, 2, 1}, {32, 2, 2}, {7, 2, 1},
	} {
		if got := autoParts(c.batch, c.cores); got != c.want {
			t.Errorf("autoParts(batch %d, %d cores) = %d, want %d", c.batch, c.cores, got, c.want)
		}
	}
}

// TestFootprint checks the architecture-only parameter count against the variables GoMLX creates, and
// that absurd sizes saturate instead of overflowing.
func TestFootprint(t *testing.T) {
	for _, c := range []struct {
		model string
		width float64
		plain bool
	}{{"resnet20", 0.25, false}, {"resnet20", 1, true}, {"resnet18", 0.125, false}, {"resnet50", 0.0625, false}} {
		b := New(c.model).Width(c.width).Plain(c.plain).NumClasses(7)
		store, _, _ := buildOnly(t, testutil.GoBackend(t), b, shapes.Make(dtypes.Float32, 2, 16, 16, 3))
		var want int64
		for v := range store.IterVariables() {
			want += int64(v.Shape().Size())
		}
		got := b.Footprint(16, 16, 3)
		if got.Params != want {
			t.Errorf("%s: footprint says %d parameters, the model has %d variable values", b.Name(), got.Params, want)
		}
		if got.Activations <= 0 {
			t.Errorf("%s: activations %d", b.Name(), got.Activations)
		}
	}
	// torchvision's stem (7×7 stride 2, then a stride-2 max-pool): the same parameters as the model's
	// variables, and 16× fewer activation positions after the stem than the small stem's.
	in := New("resnet18").Width(0.125).NumClasses(7).ImageNetStem(true)
	store, _, _ := buildOnly(t, testutil.GoBackend(t), in, shapes.Make(dtypes.Float32, 2, 64, 64, 3))
	var want int64
	for v := range store.IterVariables() {
		want += int64(v.Shape().Size())
	}
	big, small := in.Footprint(64, 64, 3), New("resnet18").Width(0.125).NumClasses(7).Footprint(64, 64, 3)
	if big.Params != want {
		t.Errorf("ImageNet stem: footprint says %d parameters, the model has %d variable values", big.Params, want)
	}
	if big.Activations*8 > small.Activations {
		t.Errorf("ImageNet stem: %d activations, small stem %d: the stride-4 stem must cut them", big.Activations, small.Activations)
	}
	if r := in.InputSize(32).Footprint(64, 64, 3); r.Activations*3 > big.Activations {
		t.Errorf("a model that resizes to 32×32 counts %d activations at 64×64 (%d)", r.Activations, big.Activations)
	}
	if f := in.FreezeBackbone(true).Footprint(64, 64, 3); f.Activations > 1000 {
		t.Errorf("a frozen backbone keeps only the head's input, not %d activations", f.Activations)
	}
	huge := New("resnet20").Width(1e12).Footprint(1<<30, 1<<30, 3)
	if huge.Params != math.MaxInt64 || huge.Activations != math.MaxInt64 {
		t.Errorf("absurd sizes should saturate: %+v", huge)
	}
	if f := New("resnet20").Width(500).Footprint(28, 28, 1); f.Params < 40e9 {
		t.Errorf("--width 500: %d parameters", f.Params)
	}
}
