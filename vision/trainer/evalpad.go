package trainer

import (
	"fmt"
	"iter"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// Multi-device evaluation runs on groups of n per-device batches (one global batch). A test set rarely
// fills its last group: 10,000 Fashion-MNIST images in 4×128 groups leave 272 over, and dropping them
// would compare runs on 1 and 4 GPUs on different test sets. So the test batches are padded: each
// per-device batch to the full per-device size, the number of batches to a multiple of n, and a mask
// label (bool [batch], true for real images) makes the loss and the metrics count real images only. The
// model evaluates in inference mode (moving batch-norm averages), so padding never changes the outputs of
// real images.

// padGroups wraps a per-device test dataset for evaluation over n devices.
type padGroups struct {
	src       train.Dataset
	n         int // devices
	perDevice int // images per per-device batch
}

func (p *padGroups) Name() string { return p.src.Name() }

// NumBatches counts the per-device batches yielded: the source's, rounded up to a multiple of n.
func (p *padGroups) NumBatches() int {
	s, ok := p.src.(Sized)
	if !ok {
		return 0
	}
	return paddedBatches(s.NumBatches(), p.n)
}

// paddedBatches rounds a count of per-device batches up to whole groups of n.
func paddedBatches(batches, n int) int { return (batches + n - 1) / n * n }

func (p *padGroups) SetEpoch(e int) {
	if ep, ok := p.src.(Epocher); ok {
		ep.SetEpoch(e)
	}
}

func (p *padGroups) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		count := 0
		// The shapes of the last batch, for the fill-up batches (its tensors belong to the consumer, which
		// finalizes them).
		var inShapes, labelShapes []shapes.Shape
		var spec any
		for b, err := range p.src.Iter() {
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			padded, err := p.pad(b)
			b.Finalize()
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			count++
			inShapes, labelShapes, spec = shapesOf(padded.Inputs), shapesOf(padded.Labels), padded.Spec
			if !yield(padded, nil) {
				return
			}
		}
		if count == 0 {
			return
		}
		// Whole groups: fully masked batches shaped like the last one.
		for count%p.n != 0 {
			empty := p.empty(inShapes, labelShapes, spec)
			count++
			if !yield(empty, nil) {
				return
			}
		}
	}
}

// pad grows a batch's tensors along their first axis to perDevice (zeros) and adds the mask label.
func (p *padGroups) pad(b train.Batch) (train.Batch, error) {
	if len(b.Inputs) == 0 || len(b.Labels) == 0 {
		return train.Batch{}, fmt.Errorf("evaluation batches need inputs and labels")
	}
	real := b.Inputs[0].Shape().Dimensions[0]
	if real > p.perDevice {
		return train.Batch{}, fmt.Errorf("evaluation batch of %d images is larger than the per-device batch %d", real, p.perDevice)
	}
	out := train.Batch{Spec: paddedSpec{b.Spec}}
	for _, t := range b.Inputs {
		pt, err := padFirstAxis(t, p.perDevice)
		if err != nil {
			return train.Batch{}, err
		}
		out.Inputs = append(out.Inputs, pt)
	}
	for _, t := range b.Labels {
		pt, err := padFirstAxis(t, p.perDevice)
		if err != nil {
			return train.Batch{}, err
		}
		out.Labels = append(out.Labels, pt)
	}
	mask := make([]bool, p.perDevice)
	for i := range real {
		mask[i] = true
	}
	out.Labels = append(out.Labels, tensors.FromValue(mask))
	return out, nil
}

// empty is a batch of zeros with the given shapes, and an all-false mask (the last label).
func (p *padGroups) empty(inShapes, labelShapes []shapes.Shape, spec any) train.Batch {
	out := train.Batch{Spec: spec}
	for _, s := range inShapes {
		out.Inputs = append(out.Inputs, tensors.FromShape(s))
	}
	for _, s := range labelShapes[:len(labelShapes)-1] {
		out.Labels = append(out.Labels, tensors.FromShape(s))
	}
	out.Labels = append(out.Labels, tensors.FromValue(make([]bool, p.perDevice)))
	return out
}

func shapesOf(ts []*tensors.Tensor) []shapes.Shape {
	out := make([]shapes.Shape, len(ts))
	for i, t := range ts {
		out[i] = t.Shape()
	}
	return out
}

// padFirstAxis copies t into a zero tensor whose first axis has size n (a copy even when no padding is
// needed, so the source batch can be finalized).
func padFirstAxis(t *tensors.Tensor, n int) (*tensors.Tensor, error) {
	dims := append([]int{n}, t.Shape().Dimensions[1:]...)
	out := tensors.FromShape(shapes.Make(t.DType(), dims...))
	var err error
	cerr := t.ConstBytes(func(src []byte) {
		err = out.MutableBytes(func(dst []byte) { copy(dst, src) })
	})
	if cerr != nil {
		return nil, cerr
	}
	return out, err
}

// paddedSpec marks padded batches' spec: they carry one more label (the mask) than the source's, and
// GoMLX keys its compiled graphs by spec.
type paddedSpec struct{ source any }

// evalMask returns the mask label of an evaluation batch (the bool [batch] label after the class
// labels), or nil when the batch has none (single-device evaluation, nothing padded).
func evalMask(labels []*graph.Node) *graph.Node {
	if len(labels) > 1 && labels[len(labels)-1].DType() == dtypes.Bool && labels[len(labels)-1].Rank() == 1 {
		return labels[len(labels)-1]
	}
	return nil
}
