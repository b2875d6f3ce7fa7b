package data

import (
	"iter"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gonbgpu/gonbgpu/vision/augment"
)

// indexedSet returns a set of n 3×2×1 images whose first two pixels encode the image index, with
// labels i%classes, so tests can tell which image a batch row holds.
func indexedSet(n, classes int) *Set {
	s := newSet(n, 3, 2, 1, classes)
	for i := range n {
		img := s.Image(i)
		img[0], img[1] = byte(i%256), byte(i/256)
	}
	return s
}

// batchData extracts a batch's inputs and labels, checking dtypes and shapes.
func batchData(t *testing.T, b train.Batch, h, w, c int) (inputs []float32, labels []int32, size int) {
	t.Helper()
	if len(b.Inputs) != 1 || len(b.Labels) != 1 {
		t.Fatalf("batch has %d inputs and %d labels, want 1 and 1", len(b.Inputs), len(b.Labels))
	}
	in, lb := b.Inputs[0], b.Labels[0]
	size = lb.Shape().Dimensions[0]
	if in.DType() != dtypes.Float32 || !slices.Equal(in.Shape().Dimensions, []int{size, h, w, c}) {
		t.Fatalf("inputs %s, want float32 [%d %d %d %d]", in.Shape(), size, h, w, c)
	}
	if lb.DType() != dtypes.Int32 || !slices.Equal(lb.Shape().Dimensions, []int{size, 1}) {
		t.Fatalf("labels %s, want int32 [%d 1]", lb.Shape(), size)
	}
	var err error
	if inputs, err = tensors.CopyFlatData[float32](in); err != nil {
		t.Fatal(err)
	}
	if labels, err = tensors.CopyFlatData[int32](lb); err != nil {
		t.Fatal(err)
	}
	if err := b.Finalize(); err != nil {
		t.Fatal(err)
	}
	return inputs, labels, size
}

// epochIndices runs one epoch and returns the image indices in the order served, and the batch sizes.
func epochIndices(t *testing.T, l *Loader) (indices []int, sizes []int) {
	t.Helper()
	s := l.Set()
	for b, err := range l.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		inputs, labels, size := batchData(t, b, s.H, s.W, s.C)
		sizes = append(sizes, size)
		for k := range size {
			row := inputs[k*s.ImageSize():]
			i := int(math.Round(float64(row[0])*255)) + 256*int(math.Round(float64(row[1])*255))
			if labels[k] != s.Labels[i] {
				t.Fatalf("row %d holds image %d but label %d, want %d", k, i, labels[k], s.Labels[i])
			}
			indices = append(indices, i)
		}
	}
	return indices, sizes
}

func TestLoaderInOrder(t *testing.T) {
	s := indexedSet(10, 3)
	l, err := NewLoader(s, LoaderOptions{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	indices, sizes := epochIndices(t, l)
	if !slices.Equal(sizes, []int{4, 4, 2}) || l.NumBatches() != 3 {
		t.Fatalf("batch sizes %v, NumBatches %d; want [4 4 2] and 3", sizes, l.NumBatches())
	}
	if !slices.Equal(indices, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("without Shuffle, images served in order %v", indices)
	}
	if l.Name() != "test" {
		t.Errorf("Name() = %q", l.Name())
	}
}

func TestLoaderShuffleCoversEveryImageOnce(t *testing.T) {
	s := indexedSet(1003, 7)
	l, err := NewLoader(s, LoaderOptions{BatchSize: 64, Shuffle: true, Seed: 3, Workers: 3, Prefetch: 2})
	if err != nil {
		t.Fatal(err)
	}
	var orders [][]int
	for epoch := range 3 {
		indices, sizes := epochIndices(t, l)
		if len(sizes) != 16 || sizes[15] != 1003-15*64 || l.NumBatches() != 16 {
			t.Fatalf("epoch %d: batch sizes %v", epoch, sizes)
		}
		sorted := slices.Sorted(slices.Values(indices))
		for i, v := range sorted {
			if v != i {
				t.Fatalf("epoch %d: image %d served %d times", epoch, i, len(indices)-len(slices.DeleteFunc(slices.Clone(indices), func(x int) bool { return x == i })))
			}
		}
		if slices.IsSorted(indices) {
			t.Fatalf("epoch %d: Shuffle served images in order", epoch)
		}
		orders = append(orders, indices)
	}
	if slices.Equal(orders[0], orders[1]) || slices.Equal(orders[1], orders[2]) {
		t.Error("two epochs have the same order")
	}
	// Reproducible: epoch 1 again gives the same order.
	l.SetEpoch(1)
	if again, _ := epochIndices(t, l); !slices.Equal(again, orders[1]) {
		t.Error("epoch 1 repeated gave a different order")
	}
	if l.Epoch() != 2 {
		t.Errorf("Epoch() = %d after running epoch 1, want 2", l.Epoch())
	}
}

func TestLoaderDropLast(t *testing.T) {
	l, err := NewLoader(indexedSet(103, 5), LoaderOptions{BatchSize: 10, Shuffle: true, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	indices, sizes := epochIndices(t, l)
	if len(sizes) != 10 || l.NumBatches() != 10 || slices.Max(sizes) != 10 || slices.Min(sizes) != 10 {
		t.Fatalf("DropLast: sizes %v, NumBatches %d", sizes, l.NumBatches())
	}
	if len(slices.Compact(slices.Sorted(slices.Values(indices)))) != 100 {
		t.Error("DropLast served a repeated image")
	}
}

// allBatches returns the inputs of every batch of the next epoch, concatenated.
func allBatches(t *testing.T, l *Loader) []float32 {
	t.Helper()
	var all []float32
	for b, err := range l.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		inputs, _, _ := batchData(t, b, l.Set().H, l.Set().W, l.Set().C)
		all = append(all, inputs...)
	}
	return all
}

func TestLoaderAugmentReproducible(t *testing.T) {
	s := newSet(40, 8, 8, 3, 4)
	mean, std := s.MeanStd()
	newLoader := func(workers int, seed int64) *Loader {
		l, err := NewLoader(s, LoaderOptions{
			BatchSize: 6, Shuffle: true, Seed: seed, Workers: workers, Mean: mean, Std: std,
			Augment: augment.New().Flip(0.5).Crop(2).Rotate(10).BrightnessContrast(0.2, 0.2),
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	one, many := newLoader(1, 9), newLoader(5, 9)
	epoch0 := allBatches(t, one)
	if !slices.Equal(epoch0, allBatches(t, many)) {
		t.Fatal("epoch 0 differs between 1 and 5 workers")
	}
	epoch1 := allBatches(t, one)
	if !slices.Equal(epoch1, allBatches(t, many)) {
		t.Fatal("epoch 1 differs between 1 and 5 workers")
	}
	if slices.Equal(epoch0, epoch1) {
		t.Error("epochs 0 and 1 are identical")
	}
	if slices.Equal(epoch0, allBatches(t, newLoader(2, 10))) {
		t.Error("seeds 9 and 10 gave the same epoch 0")
	}
	one.SetEpoch(0)
	if !slices.Equal(epoch0, allBatches(t, one)) {
		t.Error("SetEpoch(0) did not reproduce epoch 0")
	}
}

func TestLoaderNormalisation(t *testing.T) {
	s := newSet(5, 2, 2, 2, 2)
	mean, std := []float32{0.25, 0.5}, []float32{0.5, 0.125}
	for _, aug := range []*augment.Pipeline{nil, augment.New().Flip(0)} { // Fast path and augmenting path.
		l, err := NewLoader(s, LoaderOptions{BatchSize: 5, Mean: mean, Std: std, Augment: aug})
		if err != nil {
			t.Fatal(err)
		}
		got := allBatches(t, l)
		for j, v := range s.Pixels {
			c := j % 2
			if want := (float32(v)/255 - mean[c]) / std[c]; math.Abs(float64(got[j]-want)) > 1e-5 {
				t.Fatalf("augment=%v: value %d = %v, want %v", aug, j, got[j], want)
			}
		}
	}
	// Without Mean/Std: v/255.
	l, _ := NewLoader(s, LoaderOptions{BatchSize: 2})
	if got := allBatches(t, l); got[3] != float32(s.Pixels[3])/255 {
		t.Fatalf("unnormalised value %v, want %v", got[3], float32(s.Pixels[3])/255)
	}
}

func TestLoaderOptionErrors(t *testing.T) {
	s := newSet(5, 2, 2, 3, 2)
	for _, tc := range []struct {
		opt  LoaderOptions
		want string
	}{
		{LoaderOptions{}, "BatchSize"},
		{LoaderOptions{BatchSize: 2, Mean: []float32{0, 0, 0}}, "both Mean and Std"},
		{LoaderOptions{BatchSize: 2, Mean: []float32{0}, Std: []float32{1}}, "need 3 values"},
		{LoaderOptions{BatchSize: 2, Mean: []float32{0, 0, 0}, Std: []float32{1, 0, 1}}, "positive"},
		{LoaderOptions{BatchSize: 2, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1},
			Augment: augment.New().Normalize([]float32{0, 0, 0}, []float32{1, 1, 1})}, "both Mean/Std and the Augment"},
		{LoaderOptions{BatchSize: 2, Augment: augment.New().Normalize([]float32{0}, []float32{1})}, "normalises 1 channels"},
	} {
		_, err := NewLoader(s, tc.opt)
		wantErr(t, err, tc.want)
	}
	bad := newSet(5, 2, 2, 3, 2)
	bad.Labels[0] = 7
	_, err := NewLoader(bad, LoaderOptions{BatchSize: 2})
	wantErr(t, err, "label 7")
}

// settleGoroutines waits for the goroutine count to drop to at most want, returning the last count. The
// loader waits for its goroutines' functions to return, but a goroutine still counts for a moment after
// that, and its exit is no event a test can wait on: so it polls, and gives up only after hangGuard.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(hangGuard)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoaderEarlyStopLeaksNothing(t *testing.T) {
	s := newSet(500, 8, 8, 3, 10)
	l, err := NewLoader(s, LoaderOptions{BatchSize: 8, Shuffle: true, Workers: 4, Prefetch: 3,
		Augment: augment.New().Flip(0.5).Rotate(5)})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for round := range 20 {
		served := 0
		for b, err := range l.Iter() { // Break after 1 to 3 batches, with workers busy building more.
			if err != nil {
				t.Fatal(err)
			}
			_ = b.Finalize()
			if served++; served > round%3 {
				break
			}
		}
	}
	// iter.Pull2, as train.Loop.RunSteps uses, stopped after a few batches of an endless loader.
	l2, _ := NewLoader(s, LoaderOptions{BatchSize: 100, Repeat: true, Shuffle: true, Workers: 3})
	next, stop := iter.Pull2(l2.Iter())
	for range 12 { // More than the 5 batches of one epoch.
		b, err, ok := next()
		if !ok || err != nil {
			t.Fatalf("Repeat loader ended: ok=%v err=%v", ok, err)
		}
		_ = b.Finalize()
	}
	stop()
	// Batches 11 and 12 came from epoch 2, whatever the producers had prepared beyond them.
	if l2.Epoch() != 3 {
		t.Errorf("after 12 batches of 5 per epoch, next epoch is %d, want 3", l2.Epoch())
	}
	if after := settleGoroutines(before); after > before {
		t.Fatalf("%d goroutines before, %d after stopping loaders early", before, after)
	}
}

// BenchmarkLoaderEpoch measures one epoch of CIFAR-sized images (32×32×3), batches of 128, with and
// without the usual CIFAR augmentation; it reports images per second.
func BenchmarkLoaderEpoch(b *testing.B) {
	s := newSet(4096, 32, 32, 3, 10)
	mean, std := s.MeanStd()
	for _, bc := range []struct {
		name string
		aug  *augment.Pipeline
	}{{"plain", nil}, {"flip-crop-rotate-colour", augment.New().Flip(0.5).Crop(4).Rotate(10).BrightnessContrast(0.2, 0.2)}} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := NewLoader(s, LoaderOptions{BatchSize: 128, Shuffle: true, Augment: bc.aug, Mean: mean, Std: std})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				for batch, err := range l.Iter() {
					if err != nil {
						b.Fatal(err)
					}
					_ = batch.Finalize()
				}
			}
			b.ReportMetric(float64(s.N)*float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// TestLoaderStartAt: StartAt(k) delivers exactly the batches k… of the same epoch, same contents.
func TestLoaderStartAt(t *testing.T) {
	set := indexedSet(40, 4)
	opt := LoaderOptions{BatchSize: 8, Shuffle: true, Seed: 3}
	collect := func(l *Loader) [][]float32 {
		var out [][]float32
		for b, err := range l.Iter() {
			if err != nil {
				t.Fatal(err)
			}
			in, _, _ := batchData(t, b, 3, 2, 1)
			out = append(out, in)
			b.Finalize()
		}
		return out
	}
	l, err := NewLoader(set, opt)
	if err != nil {
		t.Fatal(err)
	}
	full := collect(l)
	l, _ = NewLoader(set, opt)
	l.StartAt(2)
	part := collect(l)
	if len(full) != 5 || len(part) != 3 {
		t.Fatalf("want 5 batches, and 3 after skipping 2; got %d and %d", len(full), len(part))
	}
	for i := range part {
		if !slices.Equal(part[i], full[i+2]) {
			t.Fatalf("batch %d differs after StartAt", i+2)
		}
	}
	// The skip applies once: the next epoch starts at its beginning.
	if next := collect(l); len(next) != 5 {
		t.Fatalf("next epoch has %d batches", len(next))
	}
}
