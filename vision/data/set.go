package data

import (
	"fmt"
	"math"
)

// Set is a labelled image data set held in memory.
//
// Image i occupies Pixels[i*H*W*C : (i+1)*H*W*C] in HWC order (row-major, channels last); its label
// Labels[i] indexes Classes. All images of a set have the same size: readers resize or reject images
// that do not.
type Set struct {
	// Name identifies the set in errors, logs and plots, e.g. "fashion-mnist/train".
	Name string

	// N is the number of images, H×W their size and C the number of channels (1 for grey, 3 for RGB).
	N, H, W, C int

	// Pixels holds N×H×W×C bytes, NHWC.
	Pixels []uint8

	// Labels holds N class indices in [0, len(Classes)).
	Labels []int32

	// Classes names the classes; its length is the number of classes.
	Classes []string
}

// ImageSize returns H×W×C, the number of bytes of one image.
func (s *Set) ImageSize() int { return s.H * s.W * s.C }

// Image returns the pixels of image i (HWC), sharing memory with the set.
func (s *Set) Image(i int) []uint8 {
	size := s.ImageSize()
	return s.Pixels[i*size : (i+1)*size : (i+1)*size]
}

// String summarises the set, e.g. `fashion-mnist/train: 60000 images of 28×28×1, 10 classes`.
func (s *Set) String() string {
	return fmt.Sprintf("%s: %d images of %d×%d×%d, %d classes", s.Name, s.N, s.H, s.W, s.C, len(s.Classes))
}

// Validate checks that the fields are consistent: positive sizes, Pixels and Labels of the right
// lengths, at least one class, and every label naming a class. Readers validate what they return;
// call it on sets built by hand.
func (s *Set) Validate() error {
	if s == nil {
		return fmt.Errorf("data: nil Set")
	}
	if s.N < 0 || s.H <= 0 || s.W <= 0 || s.C <= 0 {
		return fmt.Errorf("data: set %q: invalid dimensions N=%d H=%d W=%d C=%d", s.Name, s.N, s.H, s.W, s.C)
	}
	size, ok := mulNoOverflow(s.N, s.H, s.W, s.C)
	if !ok {
		return fmt.Errorf("data: set %q: dimensions %d×%d×%d×%d overflow", s.Name, s.N, s.H, s.W, s.C)
	}
	if len(s.Pixels) != size {
		return fmt.Errorf("data: set %q: has %d pixel bytes, want N×H×W×C = %d×%d×%d×%d = %d",
			s.Name, len(s.Pixels), s.N, s.H, s.W, s.C, size)
	}
	if len(s.Labels) != s.N {
		return fmt.Errorf("data: set %q: has %d labels for %d images", s.Name, len(s.Labels), s.N)
	}
	if len(s.Classes) == 0 {
		return fmt.Errorf("data: set %q: has no classes", s.Name)
	}
	for i, l := range s.Labels {
		if l < 0 || int(l) >= len(s.Classes) {
			return fmt.Errorf("data: set %q: label %d of image %d is outside [0,%d)", s.Name, l, i, len(s.Classes))
		}
	}
	return nil
}

// ClassCounts returns the number of images of each class, indexed like Classes. Labels out of range
// are not counted.
func (s *Set) ClassCounts() []int {
	counts := make([]int, len(s.Classes))
	for _, l := range s.Labels {
		if l >= 0 && int(l) < len(counts) {
			counts[l]++
		}
	}
	return counts
}

// MeanStd returns the per-channel mean and standard deviation of the pixel values scaled to [0,1]
// (value/255), over all images: the statistics to give LoaderOptions.Mean and Std.
//
// Compute them on the training set and use the same values for validation and test sets: the model
// must see test images transformed exactly like the training images, and statistics of the test set
// would leak information about it. A channel with no variation reports std 1, so that normalising it
// only centres it instead of dividing by zero.
func (s *Set) MeanStd() (mean, std []float32) {
	mean, std = make([]float32, s.C), make([]float32, s.C)
	if s.C <= 0 || len(s.Pixels) == 0 {
		for c := range std {
			std[c] = 1
		}
		return mean, std
	}
	// A histogram per channel makes the statistics exact (no float accumulation over tens of millions of
	// values) and costs one increment per byte.
	hist := make([][256]uint64, s.C)
	for i := 0; i+s.C <= len(s.Pixels); i += s.C {
		for c, v := range s.Pixels[i : i+s.C] {
			hist[c][v]++
		}
	}
	for c := range s.C {
		var n, sum float64
		for v, count := range hist[c] {
			n += float64(count)
			sum += float64(count) * float64(v)
		}
		m := sum / n
		var ss float64
		for v, count := range hist[c] {
			d := float64(v) - m
			ss += float64(count) * d * d
		}
		sd := math.Sqrt(ss/n) / 255
		if sd == 0 {
			sd = 1
		}
		mean[c], std[c] = float32(m/255), float32(sd)
	}
	return mean, std
}

// mulNoOverflow multiplies non-negative ints, reporting false on overflow.
func mulNoOverflow(values ...int) (int, bool) {
	p := 1
	for _, v := range values {
		if v < 0 {
			return 0, false
		}
		if v != 0 && p > math.MaxInt/v {
			return 0, false
		}
		p *= v
	}
	return p, true
}
