package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gonbgpu/gonbgpu/vision/augment"
)

// LoaderOptions configures [NewLoader].
type LoaderOptions struct {
	// BatchSize is the number of images per batch (required).
	BatchSize int

	// Shuffle visits the images in a new random order every epoch (for training); otherwise in the set's
	// order (for evaluation).
	Shuffle bool

	// Seed determines the shuffling and augmentation: with equal seeds, epoch e of two runs sees the
	// same batches, bit for bit, whatever Workers is.
	Seed int64

	// DropLast drops the last, smaller batch of an epoch. By default it is kept, so every image is seen;
	// its different shape makes GoMLX compile the training graph a second time, once.
	DropLast bool

	// Repeat makes Iter loop over epochs forever (each with its own shuffle), as train.Loop.RunSteps
	// requires; by default Iter ends after one epoch, as RunEpochs and evaluation expect.
	Repeat bool

	// Augment, if not nil, is applied to every image (after scaling to [0,1], before normalisation).
	// Leave it nil for evaluation sets.
	Augment *augment.Pipeline

	// Workers is the number of goroutines building batches; default runtime.NumCPU().
	Workers int

	// Prefetch is the number of batches prepared ahead of the consumer, which is also the most batches
	// built in parallel; default max(2, Workers). Memory use is about Prefetch+2 batches.
	Prefetch int

	// Mean and Std, one value per channel, normalise inputs to (v/255 - Mean)/Std; use the training
	// set's [Set.MeanStd] for every loader of a model. When nil, inputs are v/255, in [0,1].
	Mean, Std []float32

	// Name of the dataset for train.Dataset.Name; default the set's name.
	Name string
}

// Loader serves a [Set] as batches to GoMLX: it implements train.Dataset.
//
// Each batch has one input, a float32 tensor [B, H, W, C] (scaled, augmented and normalised as the
// options say), and one label, an int32 tensor [B, 1] — the shape loss.SparseCategoricalCrossEntropyLogits
// and metric.NewSparseCategoricalAccuracy require (labels of the logits' rank, last dimension 1).
//
// Batches are built by background goroutines while the consumer trains on earlier ones. The goroutines
// live only during one Iter loop: when the loop ends — exhausted, or left early with break, an error or
// the stop function of iter.Pull2 — they are stopped and waited for before the loop returns, and batches
// built but not delivered are finalised. Nothing leaks. The ownership of delivered batches passes to the
// consumer, as train.Dataset requires.
//
// Each call to Iter starts a new epoch: the first uses epoch 0 (or the value given to SetEpoch), the
// next epoch 1, and so on — with Repeat, the epoch after the last one a batch was delivered from. The
// epoch selects the shuffle order and the augmentations, so that they differ between epochs yet are
// reproducible. A Loader must not be iterated by two loops at once.
type Loader struct {
	set       *Set
	opt       LoaderOptions
	epoch     atomic.Int64
	startAt   atomic.Int64   // batches of the next epoch to skip (a resumed run), see StartAt
	normalise [][256]float32 // Per channel: byte → normalised float, when there is no augmentation.
}

var _ train.Dataset = (*Loader)(nil)

// NewLoader checks the set and options and returns a loader. The set must not be modified while the
// loader is in use.
func NewLoader(set *Set, opt LoaderOptions) (*Loader, error) {
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if opt.BatchSize <= 0 {
		return nil, fmt.Errorf("data.NewLoader(%s): BatchSize must be positive, got %d", set.Name, opt.BatchSize)
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	if opt.Prefetch <= 0 {
		opt.Prefetch = max(2, opt.Workers)
	}
	if opt.Name == "" {
		opt.Name = set.Name
	}
	if (opt.Mean == nil) != (opt.Std == nil) {
		return nil, fmt.Errorf("data.NewLoader(%s): set both Mean and Std, or neither", set.Name)
	}
	if opt.Mean != nil {
		if len(opt.Mean) != set.C || len(opt.Std) != set.C {
			return nil, fmt.Errorf("data.NewLoader(%s): Mean and Std need %d values (one per channel), got %d and %d",
				set.Name, set.C, len(opt.Mean), len(opt.Std))
		}
		for _, s := range opt.Std {
			if !(s > 0) {
				return nil, fmt.Errorf("data.NewLoader(%s): Std values must be positive, got %v", set.Name, opt.Std)
			}
		}
		if opt.Augment.Normalizes() {
			return nil, fmt.Errorf("data.NewLoader(%s): both Mean/Std and the Augment pipeline normalise; keep one", set.Name)
		}
	}
	if err := opt.Augment.Validate(set.C); err != nil {
		return nil, fmt.Errorf("data.NewLoader(%s): %w", set.Name, err)
	}
	l := &Loader{set: set, opt: opt, normalise: make([][256]float32, set.C)}
	for c := range set.C {
		mean, std := float32(0), float32(1)
		if opt.Mean != nil {
			mean, std = opt.Mean[c], opt.Std[c]
		}
		for v := range 256 {
			l.normalise[c][v] = (float32(v)/255 - mean) / std
		}
	}
	return l, nil
}

// Name implements train.Dataset.
func (l *Loader) Name() string { return l.opt.Name }

// Set returns the set served.
func (l *Loader) Set() *Set { return l.set }

// NumBatches returns the number of batches in one epoch.
func (l *Loader) NumBatches() int {
	if l.opt.DropLast {
		return l.set.N / l.opt.BatchSize
	}
	return (l.set.N + l.opt.BatchSize - 1) / l.opt.BatchSize
}

// SetEpoch sets the epoch the next Iter starts with, e.g. to resume training from a checkpoint with the
// same data order it would have had.
func (l *Loader) SetEpoch(epoch int) { l.epoch.Store(int64(epoch)) }

// StartAt makes the next Iter begin its epoch at the given batch, without building the batches before
// it: a training run resumed in the middle of an epoch continues with exactly the batches it had not
// yet seen (same order, same augmentation).
func (l *Loader) StartAt(batch int) { l.startAt.Store(int64(max(batch, 0))) }

// Epoch returns the epoch the next Iter will start with.
func (l *Loader) Epoch() int { return int(l.epoch.Load()) }

// Order returns the order in which the images of the given epoch are visited: a permutation of
// [0, N) when shuffling, the identity otherwise.
func (l *Loader) Order(epoch int) []int {
	if !l.opt.Shuffle {
		order := make([]int, l.set.N)
		for i := range order {
			order[i] = i
		}
		return order
	}
	// PCG seeded by (seed, epoch): each epoch's order is independent of how many were run before it.
	return rand.New(rand.NewPCG(uint64(l.opt.Seed), uint64(epoch))).Perm(l.set.N)
}

// result is a built batch of an epoch, or the error building it.
type result struct {
	batch train.Batch
	epoch int
	err   error
}

// job asks a worker to build the batch of the given images; the worker sends it on out (buffered).
type job struct {
	epoch   int
	indices []int
	out     chan result
}

// Iter implements train.Dataset: it yields the batches of one epoch (or of all epochs with Repeat).
func (l *Loader) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		// The epoch counter follows what the consumer received, never what the producers prepared ahead:
		// otherwise where a later Iter starts would depend on how far prefetching had run when this one
		// stopped. An Iter that delivers nothing still uses up its epoch.
		first := int(l.epoch.Load())
		l.epoch.Store(int64(first + 1))
		skip := int(l.startAt.Swap(0)) * l.opt.BatchSize
		done := make(chan struct{})
		jobs := make(chan job)
		// pending holds the output channels of the batches dispatched, in delivery order: the consumer
		// reads them in turn, so batches come out in order however the workers race. Its capacity bounds
		// how far production runs ahead.
		pending := make(chan chan result, l.opt.Prefetch)
		var wg sync.WaitGroup
		for range l.opt.Workers {
			wg.Go(func() {
				for j := range jobs {
					r := l.build(j.epoch, j.indices)
					r.epoch = j.epoch
					j.out <- r
				}
			})
		}
		wg.Go(func() {
			defer close(pending)
			defer close(jobs)
			for epoch := first; ; epoch++ {
				order := l.Order(epoch)
				begin := 0
				if epoch == first {
					begin = min(skip, len(order))
				}
				for start := begin; start < len(order); start += l.opt.BatchSize {
					end := min(start+l.opt.BatchSize, len(order))
					if end-start < l.opt.BatchSize && l.opt.DropLast {
						break
					}
					out := make(chan result, 1)
					select {
					case pending <- out:
					case <-done:
						return
					}
					select {
					case jobs <- job{epoch, order[start:end], out}:
					case <-done:
						return
					}
				}
				if !l.opt.Repeat || l.NumBatches() == 0 {
					return
				}
			}
		})
		defer func() {
			// Stop the producers, wait for them, then free the batches built but never delivered.
			close(done)
			wg.Wait()
			for out := range pending {
				select {
				case r := <-out:
					_ = r.batch.Finalize()
				default: // Never dispatched to a worker.
				}
			}
		}()
		for out := range pending {
			// The dispatcher sends a job for every channel it queued unless done is closed, which only
			// happens after this loop: this receive always completes.
			r := <-out
			if r.err != nil {
				yield(train.Batch{}, r.err)
				return
			}
			l.epoch.Store(int64(r.epoch + 1))
			if !yield(r.batch, nil) {
				return
			}
		}
	}
}

// build assembles the batch of the given images.
func (l *Loader) build(epoch int, indices []int) (r result) {
	defer func() {
		if p := recover(); p != nil { // Turn a bug into an error for the training loop, not a crash.
			_ = r.batch.Finalize()
			r = result{err: fmt.Errorf("data.Loader(%s): building a batch of epoch %d: %v", l.opt.Name, epoch, p)}
		}
	}()
	s := l.set
	size := s.ImageSize()
	b := len(indices)
	inputs := tensors.FromShape(shapes.Make(dtypes.Float32, b, s.H, s.W, s.C))
	r.batch.Inputs = []*tensors.Tensor{inputs}
	labels := make([]int32, b)
	augmenting := l.opt.Augment.Len() > 0
	err := tensors.MutableFlatData(inputs, func(flat []float32) {
		for k, i := range indices {
			labels[k] = s.Labels[i]
			src, dst := s.Image(i), flat[k*size:(k+1)*size]
			if !augmenting {
				for j, v := range src {
					dst[j] = l.normalise[j%s.C][v]
				}
				continue
			}
			for j, v := range src {
				dst[j] = float32(v) / 255
			}
			// The index in the set, not the position in the batch, keys the augmentation: an image gets the
			// same augmentation in a given epoch whatever the batch size and order.
			l.opt.Augment.Apply(augment.Image{H: s.H, W: s.W, C: s.C, Pix: dst}, l.opt.Seed, epoch, i)
			if l.opt.Mean != nil {
				for j := range dst {
					c := j % s.C
					dst[j] = (dst[j] - l.opt.Mean[c]) / l.opt.Std[c]
				}
			}
		}
	})
	if err != nil {
		_ = r.batch.Finalize()
		return result{err: fmt.Errorf("data.Loader(%s): %w", l.opt.Name, err)}
	}
	r.batch.Labels = []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labels, b, 1)}
	return r
}
