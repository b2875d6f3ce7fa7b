package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Select returns a new set holding the given images of s, in the given order (indices may repeat).
// Pixels and labels are copied, so the result does not alias s. It panics if an index is out of range.
func Select(s *Set, indices []int, name string) *Set {
	size := s.ImageSize()
	out := &Set{
		Name: name, N: len(indices), H: s.H, W: s.W, C: s.C,
		Pixels:  make([]uint8, len(indices)*size),
		Labels:  make([]int32, len(indices)),
		Classes: slices.Clone(s.Classes),
	}
	for j, i := range indices {
		if i < 0 || i >= s.N {
			panic(fmt.Sprintf("data.Select(%s): index %d out of range [0,%d)", s.Name, i, s.N))
		}
		copy(out.Pixels[j*size:(j+1)*size], s.Image(i))
		out.Labels[j] = s.Labels[i]
	}
	return out
}

// Subset returns a copy of the first n images of s (all of them if n ≥ s.N), e.g. to try a model on a
// small slice of the data before a full run. The first images of the standard data sets are in no
// particular order of class, so they make a representative sample; for a folder set, whose images are
// grouped by class, use Split instead.
func Subset(s *Set, n int) *Set {
	n = max(0, min(n, s.N))
	indices := make([]int, n)
	for i := range indices {
		indices[i] = i
	}
	return Select(s, indices, fmt.Sprintf("%s[:%d]", s.Name, n))
}

// Split divides s into two sets, a with about fraction of the images and b with the rest — typically
// training and validation sets. The split is stratified: each class is divided in the same proportion
// (rounding to the nearest image), so a rare class cannot end up entirely on one side. Which images go
// where depends only on seed, so the split is reproducible; both parts keep the images' original order.
//
// It panics unless 0 ≤ fraction ≤ 1.
func Split(s *Set, fraction float64, seed int64) (a, b *Set) {
	if !(fraction >= 0 && fraction <= 1) {
		panic(fmt.Sprintf("data.Split(%s): fraction %g outside [0,1]", s.Name, fraction))
	}
	byClass := make([][]int, len(s.Classes))
	for i, l := range s.Labels {
		byClass[l] = append(byClass[l], i)
	}
	inA := make([]bool, s.N)
	for c, indices := range byClass {
		// One generator per class, seeded by (seed, class): a class's split does not change when other
		// classes gain or lose images.
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(c)))
		rng.Shuffle(len(indices), func(i, j int) { indices[i], indices[j] = indices[j], indices[i] })
		for _, i := range indices[:int(math.Round(fraction*float64(len(indices))))] {
			inA[i] = true
		}
	}
	var ia, ib []int
	for i, x := range inA {
		if x {
			ia = append(ia, i)
		} else {
			ib = append(ib, i)
		}
	}
	return Select(s, ia, fmt.Sprintf("%s/split%.2f-a", s.Name, fraction)),
		Select(s, ib, fmt.Sprintf("%s/split%.2f-b", s.Name, fraction))
}
