package trainer

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
	"github.com/gonbgpu/gonbgpu/vision/parallel"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

// shards yields fixed per-device batches, in order: what a loader yields to the data-parallel path.
type shards struct{ batches []train.Batch }

func (s *shards) Name() string    { return "shards" }
func (s *shards) NumBatches() int { return len(s.batches) }
func (s *shards) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for _, b := range s.batches {
			c, err := b.Clone()
			if !yield(c, err) {
				return
			}
		}
	}
}

// float64Batch makes a global batch of n 16×16×1 float64 images of 3 classes, deterministic.
func float64Batch(n int) (images []float64, labels []int32) {
	r := rand.New(rand.NewPCG(11, 12))
	images = make([]float64, n*16*16)
	labels = make([]int32, n)
	for i := range labels {
		labels[i] = int32(i % 3)
		for j := range 16 * 16 {
			images[i*256+j] = float64(labels[i]) - 1 + 0.5*r.NormFloat64()
		}
	}
	return images, labels
}

// stepResult is what one training step leaves: its loss and every variable of the model, as float64.
type stepResult struct {
	loss float64
	vars map[string][]float64
}

// oneStep trains a fresh float64 ResNet-20 (width 1/4, exact batch norm, SGD with momentum) for one step
// on the global batch, on one device (n == 1) or data-parallel over n devices, from the same seed.
func oneStep(t *testing.T, b compute.Backend, n, global int) stepResult {
	t.Helper()
	images, labels := float64Batch(global)
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(5))
	builder := resnet.New("resnet20").Width(0.25).NumClasses(3).BatchNorm(resnet.BatchNormExact)
	tr := train.NewTrainer(b, store, builder.ModelFn(), loss.SparseCategoricalCrossEntropyLogits,
		optimizer.StochasticGradientDescent().WithLearningRate(0.1).Done(), nil, nil)
	per := global / n
	var parts []train.Batch
	for d := range n {
		img := tensors.FromFlatDataAndDimensions(images[d*per*256:(d+1)*per*256], per, 16, 16, 1)
		lab := tensors.FromFlatDataAndDimensions(labels[d*per:(d+1)*per], per, 1)
		parts = append(parts, train.Batch{Inputs: []*tensors.Tensor{img}, Labels: []*tensors.Tensor{lab}})
	}
	var metrics []*tensors.Tensor
	var err error
	if n == 1 {
		metrics, err = tr.TrainStep(parts[0])
	} else {
		plan := &parallel.Plan{GlobalBatch: global, PerDevice: per}
		for d := range n {
			plan.Devices = append(plan.Devices, compute.DeviceNum(d))
		}
		data, derr := Distribute(b, Data{Train: &shards{parts}, Test: &shards{parts}}, plan)
		if derr != nil {
			t.Fatalf("%d devices: %v", n, derr)
		}
		dd := data.Train.(train.DistributedDataset)
		for batch, ierr := range dd.DistributedIter() {
			if ierr != nil {
				t.Fatalf("%d devices: %v", n, ierr)
			}
			metrics, err = tr.DistributedTrainStep(dd.Strategy(), dd.DeviceAssignment(), batch)
			break
		}
	}
	if err != nil {
		t.Fatalf("%d device(s): train step: %+v", n, err)
	}
	r := stepResult{loss: tensors.ToScalar[float64](metrics[0]), vars: map[string][]float64{}}
	for v := range store.IterVariables() {
		val, err := v.Value()
		if err != nil || val == nil || val.DType() != dtypes.Float64 || strings.HasPrefix(v.Path(), "/metrics/") {
			continue // the metrics' running means are named per trainer
		}
		r.vars[v.Path()] = tensors.MustCopyFlatData[float64](val)
	}
	return r
}

// TestDataParallelStepEqualsOneDevice: on 2 and 4 XLA CPU devices, one data-parallel training step on a
// global batch leaves the same loss, weights and batch-norm moving averages as one step on one device
// with the whole batch, in float64: the gradients are summed over the shards by the SPMD partitioner's
// collectives, and batch norm's statistics are the global batch's.
func TestDataParallelStepEqualsOneDevice(t *testing.T) {
	b := testutil.Backend(t)
	if platform.IsPureGo(b) {
		t.Skip("the pure-Go backend has one device and no collectives; make test runs this package on xla:cpu too, where this test runs")
	}
	if b.NumDevices() < 4 {
		t.Fatalf("the test backend has %d device(s); XLA's CPU plugin has 4 unless told otherwise", b.NumDevices())
	}
	const global = 16
	const tol = 1e-9
	one := oneStep(t, b, 1, global)
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d devices", n), func(t *testing.T) {
			got := oneStep(t, b, n, global)
			if d := math.Abs(got.loss - one.loss); d > tol*math.Max(1, math.Abs(one.loss)) {
				t.Errorf("loss %.12g, one device %.12g", got.loss, one.loss)
			}
			if len(got.vars) != len(one.vars) || len(one.vars) == 0 {
				t.Fatalf("%d variables, one device %d", len(got.vars), len(one.vars))
			}
			var averages, worstName string
			worst := 0.0
			for name, want := range one.vars {
				have := got.vars[name]
				if len(have) != len(want) {
					t.Fatalf("%s: %d values, one device %d", name, len(have), len(want))
				}
				if strings.Contains(name, "mean") || strings.Contains(name, "variance") {
					averages = name
				}
				for i := range want {
					if d := math.Abs(have[i]-want[i]) / math.Max(1, math.Abs(want[i])); d > worst {
						worst, worstName = d, fmt.Sprintf("%s[%d]: %.12g vs %.12g", name, i, have[i], want[i])
					}
				}
			}
			if averages == "" {
				t.Errorf("no batch-norm moving average among the variables compared: %v", keys(one.vars))
			}
			if worst > tol {
				t.Errorf("largest relative difference %.3g > %g at %s", worst, tol, worstName)
			}
			t.Logf("%d devices: loss %.12g (one device %.12g); largest relative difference of %d variables %.3g",
				n, got.loss, one.loss, len(one.vars), worst)
		})
	}
}

func keys(m map[string][]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
