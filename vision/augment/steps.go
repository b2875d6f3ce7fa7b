package augment

import (
	"fmt"
	"math"
)

// flipStep mirrors the image left↔right with probability prob.
type flipStep struct{ prob float64 }

func (s flipStep) String() string { return fmt.Sprintf("Flip(%g)", s.prob) }

func (s flipStep) apply(img Image, _ []float32, r *rng) {
	if r.float64() >= s.prob {
		return
	}
	c := img.C
	for y := range img.H {
		row := img.Pix[y*img.W*c : (y+1)*img.W*c]
		for l, rr := 0, img.W-1; l < rr; l, rr = l+1, rr-1 {
			for k := range c {
				row[l*c+k], row[rr*c+k] = row[rr*c+k], row[l*c+k]
			}
		}
	}
}

// cropStep shifts the image by a random offset in [-pad, pad]² filling with zeros, which is the same as
// padding by pad and cropping the original size back at a random position.
type cropStep struct{ pad int }

func (s cropStep) String() string { return fmt.Sprintf("Crop(pad=%d)", s.pad) }

func (s cropStep) apply(img Image, scratch []float32, r *rng) {
	dx := r.intn(2*s.pad+1) - s.pad
	dy := r.intn(2*s.pad+1) - s.pad
	if dx == 0 && dy == 0 {
		return
	}
	copy(scratch, img.Pix)
	clear(img.Pix)
	c, w := img.C, img.W
	// Output column x reads source column x+dx: the valid output columns are those with 0 ≤ x+dx < w.
	x0, x1 := max(0, -dx), min(w, w-dx)
	if x0 >= x1 {
		return // Shifted entirely out of the image (pad ≥ W): all zeros.
	}
	for y := range img.H {
		sy := y + dy
		if sy < 0 || sy >= img.H {
			continue
		}
		copy(img.Pix[(y*w+x0)*c:(y*w+x1)*c], scratch[(sy*w+x0+dx)*c:(sy*w+x1+dx)*c])
	}
}

// rotateStep rotates around the image centre by a uniform angle in [-degrees, degrees].
type rotateStep struct{ degrees float64 }

func (s rotateStep) String() string { return fmt.Sprintf("Rotate(±%g°)", s.degrees) }

func (s rotateStep) apply(img Image, scratch []float32, r *rng) {
	angle := (2*r.float64() - 1) * s.degrees * math.Pi / 180
	if angle == 0 {
		return
	}
	rotate(img, scratch, angle)
}

// rotate rotates img in place by angle radians (clockwise as displayed, rows going down, for a positive angle)
// using scratch, of the same size, as a copy of the source.
func rotate(img Image, scratch []float32, angle float64) {
	copy(scratch, img.Pix)
	sin, cos := math.Sincos(angle)
	c, w, h := img.C, img.W, img.H
	cx, cy := float64(w-1)/2, float64(h-1)/2
	// sample returns the source value at integer coordinates, zero outside the image.
	sample := func(x, y, k int) float32 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return scratch[(y*w+x)*c+k]
	}
	for y := range h {
		for x := range w {
			// Inverse mapping: the output pixel (x,y) takes its value from the source point rotated by -angle,
			// so every output pixel gets exactly one value (a forward mapping would leave holes).
			ox, oy := float64(x)-cx, float64(y)-cy
			sx := cos*ox + sin*oy + cx
			sy := -sin*ox + cos*oy + cy
			fx0, fy0 := math.Floor(sx), math.Floor(sy)
			x0, y0 := int(fx0), int(fy0)
			ax, ay := float32(sx-fx0), float32(sy-fy0)
			out := img.Pix[(y*w+x)*c : (y*w+x+1)*c]
			for k := range c {
				top := sample(x0, y0, k)*(1-ax) + sample(x0+1, y0, k)*ax
				bottom := sample(x0, y0+1, k)*(1-ax) + sample(x0+1, y0+1, k)*ax
				out[k] = top*(1-ay) + bottom*ay
			}
		}
	}
}

// colorStep jitters brightness (additive) and contrast (multiplicative around the image mean).
type colorStep struct{ brightness, contrast float64 }

func (s colorStep) String() string {
	return fmt.Sprintf("BrightnessContrast(%g, %g)", s.brightness, s.contrast)
}

func (s colorStep) apply(img Image, _ []float32, r *rng) {
	beta := float32((2*r.float64() - 1) * s.brightness)
	alpha := float32(1 + (2*r.float64()-1)*s.contrast)
	if len(img.Pix) == 0 {
		return
	}
	var sum float64
	for _, v := range img.Pix {
		sum += float64(v)
	}
	mean := float32(sum / float64(len(img.Pix)))
	for i, v := range img.Pix {
		img.Pix[i] = clamp01((v-mean)*alpha + mean + beta)
	}
}

// normStep standardises each channel with fixed statistics.
type normStep struct{ mean, std []float32 }

func (s normStep) String() string { return fmt.Sprintf("Normalize(mean=%v, std=%v)", s.mean, s.std) }

func (s normStep) apply(img Image, _ []float32, _ *rng) {
	c := img.C
	for i := 0; i < len(img.Pix); i += c {
		for k := range c {
			img.Pix[i+k] = (img.Pix[i+k] - s.mean[k]) / s.std[k]
		}
	}
}
