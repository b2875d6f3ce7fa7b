package data

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

func TestValidate(t *testing.T) {
	if err := newSet(6, 2, 3, 3, 4).Validate(); err != nil {
		t.Fatalf("valid set: %v", err)
	}
	for _, tc := range []struct {
		name   string
		modify func(s *Set)
		want   string
	}{
		{"zero width", func(s *Set) { s.W = 0 }, "invalid dimensions"},
		{"short pixels", func(s *Set) { s.Pixels = s.Pixels[1:] }, "has 107 pixel bytes, want"},
		{"missing label", func(s *Set) { s.Labels = s.Labels[1:] }, "has 5 labels for 6 images"},
		{"no classes", func(s *Set) { s.Classes = nil }, "has no classes"},
		{"label too big", func(s *Set) { s.Labels[4] = 4 }, "label 4 of image 4 is outside [0,4)"},
		{"negative label", func(s *Set) { s.Labels[1] = -1 }, "label -1 of image 1"},
		{"overflow", func(s *Set) { s.N, s.H, s.W = math.MaxInt/2, 2, 2 }, "overflow"},
	} {
		s := newSet(6, 2, 3, 3, 4)
		s.Name = "myset"
		tc.modify(s)
		wantErr(t, s.Validate(), `"myset"`, tc.want)
	}
	var nilSet *Set
	wantErr(t, nilSet.Validate(), "nil Set")
}

func TestMeanStd(t *testing.T) {
	s := &Set{Name: "m", N: 2, H: 1, W: 2, C: 2, Pixels: []uint8{0, 10, 255, 10, 0, 10, 255, 10}, Labels: []int32{0, 0}, Classes: []string{"x"}}
	mean, std := s.MeanStd()
	// Channel 0 holds 0, 255, 0, 255: mean 0.5, std 0.5. Channel 1 is constant: std reported as 1.
	want := [][]float32{{0.5, 10.0 / 255}, {0.5, 1}}
	for c := range 2 {
		if math.Abs(float64(mean[c]-want[0][c])) > 1e-6 || math.Abs(float64(std[c]-want[1][c])) > 1e-6 {
			t.Fatalf("MeanStd() = %v, %v; want %v, %v", mean, std, want[0], want[1])
		}
	}
}

func TestClassCountsImageString(t *testing.T) {
	s := newSet(7, 2, 2, 1, 3)
	if got := s.ClassCounts(); !slices.Equal(got, []int{3, 2, 2}) {
		t.Errorf("ClassCounts() = %v", got)
	}
	if got := s.Image(2); !bytes.Equal(got, s.Pixels[8:12]) {
		t.Errorf("Image(2) = %v", got)
	}
	if got, want := s.String(), "test: 7 images of 2×2×1, 3 classes"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSplit(t *testing.T) {
	s := newSet(103, 2, 2, 1, 5) // Classes of 21, 21, 21, 20, 20 images.
	a, b := Split(s, 0.8, 1)
	if a.N+b.N != s.N || a.Validate() != nil || b.Validate() != nil {
		t.Fatalf("Split sizes %d + %d, want %d", a.N, b.N, s.N)
	}
	// Stratified: each class divided 80/20, rounded.
	wantA := []int{17, 17, 17, 16, 16}
	if got := a.ClassCounts(); !slices.Equal(got, wantA) {
		t.Errorf("class counts of part a = %v, want %v", got, wantA)
	}
	// Every image lands in exactly one part, unchanged: pixel patterns of testPixels are unique per image.
	seen := map[string]int{}
	for _, part := range []*Set{a, b} {
		for i := range part.N {
			seen[string(part.Image(i))]++
		}
	}
	for i := range s.N {
		if seen[string(s.Image(i))] != 1 {
			t.Fatalf("image %d appears %d times in the two parts", i, seen[string(s.Image(i))])
		}
	}
	// Reproducible for a seed, different for another.
	a2, _ := Split(s, 0.8, 1)
	a3, _ := Split(s, 0.8, 2)
	if !bytes.Equal(a.Pixels, a2.Pixels) {
		t.Error("Split with the same seed gave different parts")
	}
	if bytes.Equal(a.Pixels, a3.Pixels) {
		t.Error("Split with different seeds gave the same parts")
	}
	// Parts do not alias the original.
	a.Pixels[0]++
	if a.Pixels[0] == a2.Pixels[0] {
		t.Error("Split parts share memory")
	}
	if all, none := Split(s, 1, 0); all.N != s.N || none.N != 0 {
		t.Errorf("Split(1) gave %d and %d images", all.N, none.N)
	}
}

func TestSubsetSelect(t *testing.T) {
	s := newSet(10, 2, 2, 3, 3)
	sub := Subset(s, 4)
	if sub.N != 4 || !bytes.Equal(sub.Pixels, s.Pixels[:4*12]) || !slices.Equal(sub.Labels, s.Labels[:4]) || sub.Validate() != nil {
		t.Fatalf("Subset(4) = %+v", sub)
	}
	if all := Subset(s, 99); all.N != 10 {
		t.Errorf("Subset(99) has %d images, want 10", all.N)
	}
	sel := Select(s, []int{9, 0, 9}, "sel")
	if sel.N != 3 || !bytes.Equal(sel.Image(0), s.Image(9)) || !bytes.Equal(sel.Image(1), s.Image(0)) || sel.Labels[2] != s.Labels[9] {
		t.Fatalf("Select = %+v", sel)
	}
	defer func() {
		if recover() == nil {
			t.Error("Select with an out-of-range index did not panic")
		}
	}()
	Select(s, []int{10}, "bad")
}
