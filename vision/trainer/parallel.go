package trainer

import (
	"fmt"
	"iter"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gonbgpu/gonbgpu/vision/parallel"
)

// Distribute turns single-device datasets into data-parallel ones over the plan's devices. The sources
// must yield per-device batches (p.PerDevice images; the test set's last one may be smaller: it is padded,
// and batches are added to fill the last group, with a mask label so that every test image counts once): GoMLX's DistributedAccumulator gathers p.N() of them
// into one global batch whose batch axis is sharded over the 1-D "data" mesh, uploads each shard to its
// device, and the trainer then runs GoMLX's distributed train step (XLA SPMD through AutoSharding).
//
// With one device it returns the data unchanged: the single-device path is the same API.
func Distribute(b compute.Backend, d Data, p *parallel.Plan) (Data, error) {
	if p == nil || !p.Distributed() {
		return d, nil
	}
	batchSpec, _, err := p.BatchSharding()
	if err != nil {
		return d, err
	}
	wrap := func(src train.Dataset) (train.Dataset, error) {
		acc, err := dataset.NewDistributedAccumulator(b, src, distributed.AutoSharding,
			[]*distributed.ShardingSpec{batchSpec}, []*distributed.ShardingSpec{batchSpec}, p.Devices)
		if err != nil {
			return nil, fmt.Errorf("distributing %s over %d devices: %w", src.Name(), p.N(), err)
		}
		return &distributedData{DistributedAccumulator: acc, src: src, n: p.N()}, nil
	}
	out := Data{Classes: d.Classes}
	if out.Train, err = wrap(d.Train); err != nil {
		return d, err
	}
	// Every test image is evaluated: the last per-device batches are padded and masked (see padGroups).
	if out.Test, err = wrap(&padGroups{src: d.Test, n: p.N(), perDevice: p.PerDevice}); err != nil {
		return d, err
	}
	if d.Val != nil {
		if out.Val, err = wrap(&padGroups{src: d.Val, n: p.N(), perDevice: p.PerDevice}); err != nil {
			return d, err
		}
	}
	return out, nil
}

// distributedData is a DistributedAccumulator that still answers the trainer's questions about epochs
// and sizes, in global batches, by asking its per-device source.
type distributedData struct {
	*dataset.DistributedAccumulator
	src train.Dataset
	n   int
}

// NumBatches counts global batches: n per-device batches make one; a remainder is dropped (training
// data; the test data is padded to whole groups first).
func (d *distributedData) NumBatches() int {
	if s, ok := d.src.(Sized); ok {
		return s.NumBatches() / d.n
	}
	return 0
}

func (d *distributedData) SetEpoch(e int) {
	if ep, ok := d.src.(Epocher); ok {
		ep.SetEpoch(e)
	}
}

func (d *distributedData) StartAt(batch int) {
	if s, ok := d.src.(Skipper); ok {
		s.StartAt(batch * d.n)
	}
}

// step is one training step ready to run: it runs it and returns the metrics and the number of images.
type step func() (metrics []*tensors.Tensor, images int, err error)

// steps iterates over a training dataset's batches as runnable steps, on the single-device or the
// distributed path; skip batches are discarded first (when the dataset could not skip them itself).
func (t *Trainer) steps(ds train.Dataset, skip int) iter.Seq2[step, error] {
	return func(yield func(step, error) bool) {
		if dd, ok := ds.(train.DistributedDataset); ok {
			for batch, err := range dd.DistributedIter() {
				if err != nil {
					yield(nil, err)
					return
				}
				if skip > 0 {
					_ = batch.Finalize()
					skip--
					continue
				}
				n := batch.Inputs[0].Shape().Dimensions[0]
				s := func() ([]*tensors.Tensor, int, error) {
					m, err := t.gt.DistributedTrainStep(dd.Strategy(), dd.DeviceAssignment(), batch)
					return m, n, err
				}
				if !yield(s, nil) {
					return
				}
			}
			return
		}
		for batch, err := range ds.Iter() {
			if err != nil {
				yield(nil, err)
				return
			}
			if skip > 0 {
				batch.Finalize()
				skip--
				continue
			}
			n := batch.Inputs[0].Shape().Dimensions[0]
			s := func() ([]*tensors.Tensor, int, error) {
				m, err := t.gt.TrainStep(batch)
				return m, n, err
			}
			if !yield(s, nil) {
				return
			}
		}
	}
}
