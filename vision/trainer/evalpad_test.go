package trainer

import (
	"iter"
	"math"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gonbgpu/gonbgpu/vision/parallel"
)

// TestPaddedEvaluationCoversEveryImage checks the batching arithmetic of multi-device evaluation with a
// fake device count: every test image is evaluated once, padded rows are masked, and the number of
// per-device batches fills whole groups. The case: Fashion-MNIST's 10,000 test images in 4×128
// (79 per-device batches, the last of 16 images) make 20 groups, not 19 (9,728 images).
func TestPaddedEvaluationCoversEveryImage(t *testing.T) {
	for _, c := range []struct{ n, bs, devices int }{{10000, 128, 4}, {10000, 128, 3}, {50, 16, 2}, {48, 16, 3}, {7, 16, 4}} {
		// Like the real test loader: full batches, then a smaller last one.
		p := &padGroups{src: &raggedBlobs{&blobs{name: "test", n: c.n, bs: c.bs, seed: 2}}, n: c.devices, perDevice: c.bs}
		batches, real, masked := 0, 0, 0
		for b, err := range p.Iter() {
			if err != nil {
				t.Fatal(err)
			}
			if d := b.Inputs[0].Shape().Dimensions[0]; d != c.bs {
				t.Fatalf("%+v: a per-device batch of %d images, want %d", c, d, c.bs)
			}
			mask := b.Labels[len(b.Labels)-1].Value().([]bool)
			for _, m := range mask {
				if m {
					real++
				} else {
					masked++
				}
			}
			batches++
			b.Finalize()
		}
		if real != c.n || batches%c.devices != 0 || batches != p.NumBatches() || batches/c.devices != (c.n+c.bs*c.devices-1)/(c.bs*c.devices) {
			t.Errorf("%+v: %d real images in %d per-device batches (NumBatches %d), %d masked", c, real, batches, p.NumBatches(), masked)
		}
	}
}

// raggedBlobs yields blobs' images in batches of bs, the last one smaller.
type raggedBlobs struct{ *blobs }

func (r *raggedBlobs) NumBatches() int { return (r.n + r.bs - 1) / r.bs }

func (r *raggedBlobs) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for start := 0; start < r.n; start += r.bs {
			end := min(start+r.bs, r.n)
			x := make([]float32, 0, (end-start)*16)
			y := make([]int32, 0, end-start)
			for i := start; i < end; i++ {
				px, l := r.example(i)
				x = append(x, px...)
				y = append(y, l)
			}
			b := train.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, end-start, 4, 4, 1)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, end-start, 1)},
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// TestMaskedEvaluationEqualsUnpadded evaluates the same model on the test set as it is and padded to
// 3 fake devices' groups (through the single-device path, which the pure-Go backend has): loss, accuracy
// and confusion matrix must be the same, so a run on 1 and on N GPUs is measured on the same images.
//
// Each evaluation runs on a fresh trainer with the same seed (the same initial weights): the pure-Go
// backend embeds variables that already hold values as constants in graphs not marked as training, so a
// second evaluation graph on one trainer would not accumulate its metrics (a known GoMLX interaction being
// fixed separately); a first graph is unaffected.
func TestMaskedEvaluationEqualsUnpadded(t *testing.T) {
	test := &raggedBlobs{&blobs{name: "test", n: 40, bs: 16, seed: 2}} // 16+16+8
	evaluate := func(ds train.Dataset) (float64, float64, [][]int64) {
		d := testData()
		tr, err := New(testutil.Choice(t), testConfig("", 1), linear, d)
		if err != nil {
			t.Fatal(err)
		}
		loss, acc, conf, err := tr.Evaluate(ds)
		if err != nil {
			t.Fatal(err)
		}
		return loss, acc, conf
	}
	loss1, acc1, conf1 := evaluate(test)
	loss2, acc2, conf2 := evaluate(&padGroups{src: test, n: 3, perDevice: 16}) // 40 images in 3×16 groups: 6 batches
	if math.Abs(loss1-loss2) > 1e-5 || math.Abs(acc1-acc2) > 1e-6 {
		t.Errorf("padded evaluation: loss %g vs %g, accuracy %g vs %g", loss2, loss1, acc2, acc1)
	}
	var n1, n2 int64
	for i := range conf1 {
		for j := range conf1[i] {
			n1 += conf1[i][j]
			n2 += conf2[i][j]
			if conf1[i][j] != conf2[i][j] {
				t.Errorf("confusion[%d][%d]: %d padded vs %d", i, j, conf2[i][j], conf1[i][j])
			}
		}
	}
	if n1 != 40 || n2 != 40 {
		t.Errorf("confusion matrices count %d and %d images, want 40", n1, n2)
	}
	if acc1 <= 0 || acc1 >= 1 {
		t.Logf("accuracy %g: the comparison would be weak", acc1)
	}
}

// TestDistributeEvaluatesEveryTestImage: over 4 (fake) devices, Fashion-MNIST's test set in per-device
// batches of 128 (79 batches, the last of 16 images) is evaluated in 20 global batches, not 19 (9,728
// images); the training set still drops its incomplete last group.
func TestDistributeEvaluatesEveryTestImage(t *testing.T) {
	d := testData()
	d.Test = &raggedBlobs{&blobs{name: "test", n: 10000, bs: 128, seed: 2}}
	d.Train = &raggedBlobs{&blobs{name: "train", n: 10000, bs: 128, seed: 1}}
	p := &parallel.Plan{Devices: []compute.DeviceNum{0, 1, 2, 3}, GlobalBatch: 512, PerDevice: 128}
	out, err := Distribute(testutil.Backend(t), d, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Test.(Sized).NumBatches(); got != 20 {
		t.Errorf("test set: %d global batches, want 20 (all 10,000 images)", got)
	}
	if got := out.Train.(Sized).NumBatches(); got != 19 {
		t.Errorf("training set: %d global batches, want 19 (the incomplete group dropped)", got)
	}
}
