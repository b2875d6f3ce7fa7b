package augment

import (
	"math"
	"slices"
	"sync"
	"testing"
)

// testImage returns an image of distinct, deterministic values in [0,1].
func testImage(h, w, c int) Image {
	img := Image{H: h, W: w, C: c, Pix: make([]float32, h*w*c)}
	for i := range img.Pix {
		img.Pix[i] = float32((i*37)%251) / 250
	}
	return img
}

func clone(img Image) Image {
	img.Pix = slices.Clone(img.Pix)
	return img
}

func fullPipeline() *Pipeline {
	return New().Flip(0.5).Crop(4).Rotate(15).BrightnessContrast(0.2, 0.2)
}

func applied(p *Pipeline, src Image, seed int64, epoch, index int) Image {
	img := clone(src)
	p.Apply(img, seed, epoch, index)
	return img
}

func TestEmptyPipelineIsIdentity(t *testing.T) {
	src := testImage(5, 7, 3)
	if got := applied(New(), src, 1, 2, 3); !slices.Equal(got.Pix, src.Pix) {
		t.Fatal("empty pipeline changed the image")
	}
	var nilPipeline *Pipeline
	nilPipeline.Apply(clone(src), 1, 2, 3) // Must not panic.
}

func TestReproducible(t *testing.T) {
	src := testImage(16, 16, 3)
	p := fullPipeline()
	for index := range 10 {
		a := applied(p, src, 42, 3, index)
		b := applied(fullPipeline(), src, 42, 3, index) // An equal pipeline built separately.
		if !slices.Equal(a.Pix, b.Pix) {
			t.Fatalf("index %d: equal (seed, epoch, index) gave different images", index)
		}
	}
	// Any change of seed, epoch or index must change the augmentation for (almost) every example; with
	// 4 random steps a coincidence for a whole set of 10 examples is impossible in practice.
	for _, tc := range []struct {
		name         string
		seed         int64
		epoch, shift int
	}{{"seed", 43, 3, 0}, {"epoch", 42, 4, 0}, {"index", 42, 3, 1}} {
		same := 0
		for index := range 10 {
			a := applied(p, src, 42, 3, index)
			b := applied(p, src, tc.seed, tc.epoch, index+tc.shift)
			if slices.Equal(a.Pix, b.Pix) {
				same++
			}
		}
		if same > 1 {
			t.Errorf("changing the %s left %d of 10 augmentations unchanged", tc.name, same)
		}
	}
}

// TestConcurrentEqualsSequential checks the promise that results do not depend on how many goroutines
// apply the pipeline, nor in what order.
func TestConcurrentEqualsSequential(t *testing.T) {
	src := testImage(12, 10, 3)
	p := fullPipeline().Normalize([]float32{0.5, 0.4, 0.3}, []float32{0.2, 0.25, 0.3})
	const n = 64
	want := make([]Image, n)
	for i := range n {
		want[i] = applied(p, src, 7, 1, i)
	}
	got := make([]Image, n)
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Go(func() {
			for i := n - 1 - worker; i >= 0; i -= 4 { // Reverse order, interleaved.
				got[i] = applied(p, src, 7, 1, i)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if !slices.Equal(got[i].Pix, want[i].Pix) {
			t.Fatalf("example %d differs between concurrent and sequential application", i)
		}
	}
}

func TestFlip(t *testing.T) {
	src := testImage(3, 4, 2)
	if got := applied(New().Flip(0), src, 1, 0, 0); !slices.Equal(got.Pix, src.Pix) {
		t.Error("Flip(0) changed the image")
	}
	got := applied(New().Flip(1), src, 1, 0, 0)
	for y := range 3 {
		for x := range 4 {
			for c := range 2 {
				if g, w := got.Pix[(y*4+x)*2+c], src.Pix[(y*4+3-x)*2+c]; g != w {
					t.Fatalf("Flip(1) at (%d,%d,%d) = %v, want %v", y, x, c, g, w)
				}
			}
		}
	}
	flips := 0
	for i := range 1000 {
		if !slices.Equal(applied(New().Flip(0.5), src, 1, 0, i).Pix, src.Pix) {
			flips++
		}
	}
	if flips < 430 || flips > 570 {
		t.Errorf("Flip(0.5) flipped %d of 1000 images", flips)
	}
}

// shifted returns src shifted so that out(y,x) = src(y+dy, x+dx), zero outside.
func shifted(src Image, dx, dy int) Image {
	out := Image{H: src.H, W: src.W, C: src.C, Pix: make([]float32, len(src.Pix))}
	for y := range src.H {
		for x := range src.W {
			sy, sx := y+dy, x+dx
			if sy < 0 || sx < 0 || sy >= src.H || sx >= src.W {
				continue
			}
			copy(out.Pix[(y*src.W+x)*src.C:][:src.C], src.Pix[(sy*src.W+sx)*src.C:][:src.C])
		}
	}
	return out
}

func TestCrop(t *testing.T) {
	src := testImage(8, 9, 3)
	const pad = 2
	seen := map[[2]int]bool{}
	for i := range 300 {
		got := applied(New().Crop(pad), src, 5, 0, i)
		found := false
		for dy := -pad; dy <= pad && !found; dy++ {
			for dx := -pad; dx <= pad && !found; dx++ {
				if slices.Equal(got.Pix, shifted(src, dx, dy).Pix) {
					found = true
					seen[[2]int{dx, dy}] = true
				}
			}
		}
		if !found {
			t.Fatalf("example %d: Crop(%d) result is not a zero-padded shift of at most %d pixels", i, pad, pad)
		}
	}
	if len(seen) != (2*pad+1)*(2*pad+1) {
		t.Errorf("Crop(%d) produced %d distinct offsets in 300 draws, want all %d", pad, len(seen), (2*pad+1)*(2*pad+1))
	}
	// A padding larger than the image must not panic (it can shift everything out).
	applied(New().Crop(20), src, 5, 0, 0)
}

func TestRotate90(t *testing.T) {
	const n = 5
	src := Image{H: n, W: n, C: 1, Pix: make([]float32, n*n)}
	src.Pix[2*n+4] = 1 // Middle of the right edge.
	img := clone(src)
	rotate(img, make([]float32, n*n), math.Pi/2)
	for i, v := range img.Pix {
		want := float32(0)
		if i == 4*n+2 { // Middle of the bottom edge: clockwise as displayed.
			want = 1
		}
		if math.Abs(float64(v-want)) > 1e-5 {
			t.Fatalf("after rotating 90°, pixel (%d,%d) = %v, want %v", i/n, i%n, v, want)
		}
	}
}

func TestRotateKeepsInteriorOfConstantImage(t *testing.T) {
	const n = 21
	src := Image{H: n, W: n, C: 2, Pix: make([]float32, n*n*2)}
	for i := range src.Pix {
		src.Pix[i] = 0.75
	}
	changed := 0
	for i := range 20 {
		got := applied(New().Rotate(30), src, 9, 0, i)
		// Bilinear interpolation of a constant is that constant wherever all four neighbours are inside:
		// certainly within radius n/2-2 of the centre.
		for y := range n {
			for x := range n {
				dx, dy := float64(x-n/2), float64(y-n/2)
				if dx*dx+dy*dy < float64((n/2-2)*(n/2-2)) {
					if v := got.Pix[(y*n+x)*2]; math.Abs(float64(v)-0.75) > 1e-5 {
						t.Fatalf("interior pixel (%d,%d) = %v after rotation, want 0.75", y, x, v)
					}
				}
			}
		}
		if got.Pix[0] < 0.7 { // The corner gets (partly) zero-filled unless the angle is tiny.
			changed++
		}
	}
	if changed < 15 {
		t.Errorf("only %d of 20 rotations by up to ±30° touched the corner", changed)
	}
}

func TestBrightnessContrast(t *testing.T) {
	src := testImage(6, 6, 3)
	var mean float64
	for _, v := range src.Pix {
		mean += float64(v)
	}
	mean /= float64(len(src.Pix))
	different := 0
	for i := range 50 {
		got := applied(New().BrightnessContrast(0.3, 0.3), src, 3, 0, i)
		if !slices.Equal(got.Pix, src.Pix) {
			different++
		}
		// The transformation is affine (then clamped): recover α and β from two unclamped values, and check
		// their ranges and that every value obeys the same formula.
		var alpha, beta float64
		a, b := -1, -1
		for j, v := range got.Pix {
			if v > 0 && v < 1 {
				if a < 0 {
					a = j
				} else if src.Pix[j] != src.Pix[a] {
					b = j
					break
				}
			}
		}
		if a < 0 || b < 0 {
			continue // Everything clamped: nothing to check.
		}
		alpha = float64(got.Pix[b]-got.Pix[a]) / float64(src.Pix[b]-src.Pix[a])
		beta = float64(got.Pix[a]) - ((float64(src.Pix[a])-mean)*alpha + mean)
		if alpha < 0.7-1e-3 || alpha > 1.3+1e-3 || beta < -0.3-1e-3 || beta > 0.3+1e-3 {
			t.Fatalf("example %d: contrast %.3f or brightness %.3f outside the ±0.3 jitter", i, alpha, beta)
		}
		for j, v := range got.Pix {
			want := min(1, max(0, (float64(src.Pix[j])-mean)*alpha+mean+beta))
			if math.Abs(float64(v)-want) > 1e-4 {
				t.Fatalf("example %d value %d = %v, want %v", i, j, v, want)
			}
		}
	}
	if different < 45 {
		t.Errorf("BrightnessContrast changed only %d of 50 images", different)
	}
}

func TestNormalize(t *testing.T) {
	src := testImage(2, 3, 2)
	mean, std := []float32{0.5, 0.25}, []float32{0.5, 2}
	p := New().Normalize(mean, std)
	got := applied(p, src, 0, 0, 0)
	for i, v := range got.Pix {
		c := i % 2
		if want := (src.Pix[i] - mean[c]) / std[c]; v != want {
			t.Fatalf("value %d = %v, want %v", i, v, want)
		}
	}
	if !p.Normalizes() || New().Flip(1).Normalizes() {
		t.Error("Normalizes() is wrong")
	}
	if err := p.Validate(2); err != nil {
		t.Errorf("Validate(2) = %v", err)
	}
	if err := p.Validate(3); err == nil {
		t.Error("Validate(3) accepted a 2-channel Normalize")
	}
	// Mutating the caller's slices afterwards must not change the pipeline.
	mean[0] = 100
	if again := applied(p, src, 0, 0, 0); !slices.Equal(again.Pix, got.Pix) {
		t.Error("Normalize kept a reference to the caller's mean slice")
	}
}

func TestBuilderPanics(t *testing.T) {
	for name, build := range map[string]func(){
		"Flip(1.5)":              func() { New().Flip(1.5) },
		"Crop(-1)":               func() { New().Crop(-1) },
		"Rotate(-3)":             func() { New().Rotate(-3) },
		"BrightnessContrast(-1)": func() { New().BrightnessContrast(-1, 0) },
		"Normalize(len mismatch)": func() {
			New().Normalize([]float32{0, 0}, []float32{1})
		},
		"Normalize(std 0)": func() { New().Normalize([]float32{0}, []float32{0}) },
		"step after Normalize": func() {
			New().Normalize([]float32{0}, []float32{1}).Flip(0.5)
		},
		"Apply(bad image)": func() { New().Flip(1).Apply(Image{H: 2, W: 2, C: 1, Pix: make([]float32, 3)}, 0, 0, 0) },
		"Apply(channel mismatch)": func() {
			New().Normalize([]float32{0}, []float32{1}).Apply(testImage(2, 2, 3), 0, 0, 0)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			build()
		}()
	}
}

func TestUint8RoundTrip(t *testing.T) {
	src := []uint8{0, 1, 127, 128, 254, 255}
	img := FromUint8(src, 1, 2, 3)
	if img.Pix[5] != 1 || img.Pix[0] != 0 {
		t.Fatalf("FromUint8 scaling wrong: %v", img.Pix)
	}
	if got := img.ToUint8(); !slices.Equal(got, src) {
		t.Fatalf("ToUint8(FromUint8(x)) = %v, want %v", got, src)
	}
}

func TestString(t *testing.T) {
	if got, want := fullPipeline().String(), "Flip(0.5) → Crop(pad=4) → Rotate(±15°) → BrightnessContrast(0.2, 0.2)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func BenchmarkFullPipeline32x32x3(b *testing.B) {
	src := testImage(32, 32, 3)
	p := fullPipeline()
	img := clone(src)
	for i := 0; b.Loop(); i++ {
		copy(img.Pix, src.Pix)
		p.Apply(img, 1, 0, i)
	}
}
