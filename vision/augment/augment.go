// Package augment holds the random image transformations used while training image classifiers:
// horizontal flips, padded random crops, small rotations, brightness/contrast jitter, and the final
// per-channel normalisation. It plays the role albumentations or torchvision.transforms play in Python.
//
// A [Pipeline] is built once and then applied to many images, usually from several goroutines at once
// (see vision/data's Loader):
//
//	p := augment.New().Flip(0.5).Crop(4).Rotate(10).BrightnessContrast(0.2, 0.2)
//	p.Apply(img, seed, epoch, index)
//
// # Images
//
// Transformations work in place on one image in HWC layout (row-major, channels last) held as float32
// ([Image]). Float32 rather than uint8 because rotations interpolate and brightness/contrast scale values:
// rounding back to uint8 after each step would add quantisation noise that the model then has to learn
// to ignore. Pixel values are expected in [0,1] (uint8 divided by 255, see [FromUint8]): the colour steps
// clamp to that range, and "brightness 0.2" means a shift of up to 20% of full scale. [Pipeline.Normalize]
// therefore belongs at the end, after every step that assumes [0,1].
//
// # Reproducibility
//
// The random numbers an image receives derive only from (seed, epoch, index) — see [Pipeline.Apply] — and
// never from a shared generator. A shared generator would hand out numbers in whatever order worker
// goroutines happen to ask for them, so the same training run would see different augmentations depending
// on scheduling and on the number of workers. Deriving them from the example's identity makes a run
// repeatable bit for bit, while still giving every epoch fresh augmentations.
package augment

import (
	"fmt"
	"math"
	"strings"
	"sync"
)

// Image is a view of one image in HWC layout: the value of channel c of the pixel at row y, column x is
// Pix[(y*W+x)*C+c]. Transformations modify Pix in place and never change H, W or C.
type Image struct {
	H, W, C int
	Pix     []float32
}

// FromUint8 converts an HWC uint8 image to an [Image] with values in [0,1], the range the colour steps
// of a [Pipeline] assume.
func FromUint8(src []uint8, h, w, c int) Image {
	img := Image{H: h, W: w, C: c, Pix: make([]float32, len(src))}
	for i, v := range src {
		img.Pix[i] = float32(v) / 255
	}
	return img
}

// ToUint8 converts an image with values in [0,1] back to uint8 (rounding, clamping out-of-range values),
// for instance to display what the augmentation did in a notebook.
func (img Image) ToUint8() []uint8 {
	out := make([]uint8, len(img.Pix))
	for i, v := range img.Pix {
		out[i] = uint8(clamp01(v)*255 + 0.5)
	}
	return out
}

func (img Image) check() {
	if img.H < 0 || img.W < 0 || img.C <= 0 || len(img.Pix) != img.H*img.W*img.C {
		panic(fmt.Sprintf("augment: invalid Image: H=%d W=%d C=%d but len(Pix)=%d", img.H, img.W, img.C, len(img.Pix)))
	}
}

// step is one transformation of a pipeline. It draws all its random numbers from r, always the same
// count whatever it decides, so that a step's choices never shift the numbers seen by the steps after it.
type step interface {
	apply(img Image, scratch []float32, r *rng)
	String() string
}

// Pipeline is an ordered list of transformations. Build it with [New] and the chaining methods, which
// append a step and return the same pipeline; steps run in the order they were added.
//
// A built Pipeline is read-only and safe for concurrent use by many goroutines. Do not add steps
// while it is being applied.
type Pipeline struct {
	steps    []step
	channels int // Number of channels required by Normalize, 0 if none.
}

// New returns an empty pipeline, which leaves images unchanged.
func New() *Pipeline { return &Pipeline{} }

// Len returns the number of steps.
func (p *Pipeline) Len() int {
	if p == nil {
		return 0
	}
	return len(p.steps)
}

// String describes the steps, e.g. "Flip(0.5) → Crop(pad=4) → Normalize(...)", for logs and notebooks.
func (p *Pipeline) String() string {
	if p.Len() == 0 {
		return "Identity"
	}
	parts := make([]string, len(p.steps))
	for i, s := range p.steps {
		parts[i] = s.String()
	}
	return strings.Join(parts, " → ")
}

// Normalizes reports whether the pipeline ends its work with a [Pipeline.Normalize] step. The data
// loader uses it to refuse normalising twice.
func (p *Pipeline) Normalizes() bool { return p != nil && p.channels > 0 }

// Validate reports whether the pipeline can be applied to images with c channels; the only step that
// cares is Normalize, whose mean and std have one value per channel. Check it once before a training
// run rather than discovering a mismatch (a panic in Apply) in the middle of one.
func (p *Pipeline) Validate(c int) error {
	if p.Normalizes() && c != p.channels {
		return fmt.Errorf("augment: pipeline normalises %d channels but images have %d", p.channels, c)
	}
	return nil
}

// add appends a step, refusing any step after Normalize: those would see normalised values where they
// expect [0,1], and clamp or pad with the wrong "black".
func (p *Pipeline) add(s step) {
	if p.Normalizes() {
		panic(fmt.Sprintf("augment: %s added after Normalize, which must be the last step", s))
	}
	p.steps = append(p.steps, s)
}

// Flip mirrors the image horizontally (left↔right) with probability prob. Vertical flips are not
// offered: for the photos and clothes this course trains on, an upside-down image is not a plausible
// example of its class.
func (p *Pipeline) Flip(prob float64) *Pipeline {
	if prob < 0 || prob > 1 || math.IsNaN(prob) {
		panic(fmt.Sprintf("augment: Flip probability %g outside [0,1]", prob))
	}
	p.add(flipStep{prob})
	return p
}

// Crop pads the image with pad pixels of zeros (black) on every side and crops a window of the original
// size at a uniformly random offset — the "pad 4, random crop 32" of CIFAR-10 training recipes. It
// shifts the content by up to pad pixels in each direction, teaching the model some translation
// invariance.
func (p *Pipeline) Crop(pad int) *Pipeline {
	if pad < 0 {
		panic(fmt.Sprintf("augment: Crop padding %d is negative", pad))
	}
	p.add(cropStep{pad})
	return p
}

// Rotate rotates the image around its centre by an angle drawn uniformly from [-degrees, +degrees],
// sampling with bilinear interpolation; corners uncovered by the rotation become zero (black).
func (p *Pipeline) Rotate(degrees float64) *Pipeline {
	if degrees < 0 || degrees > 180 || math.IsNaN(degrees) {
		panic(fmt.Sprintf("augment: Rotate degrees %g outside [0,180]", degrees))
	}
	p.add(rotateStep{degrees})
	return p
}

// BrightnessContrast jitters brightness and contrast: with β drawn from [-brightness, +brightness] and
// α from [1-contrast, 1+contrast], every value becomes clamp((v-m)·α + m + β, 0, 1), where m is the
// image's mean value. Contrast scales around the mean rather than around zero so that changing contrast
// does not also change overall brightness (albumentations' default scales around zero and mixes both).
func (p *Pipeline) BrightnessContrast(brightness, contrast float64) *Pipeline {
	if brightness < 0 || contrast < 0 || contrast > 1 || math.IsNaN(brightness) || math.IsNaN(contrast) {
		panic(fmt.Sprintf("augment: BrightnessContrast(%g, %g): want brightness ≥ 0 and contrast in [0,1]",
			brightness, contrast))
	}
	p.add(colorStep{brightness, contrast})
	return p
}

// Normalize maps every value v of channel c to (v-mean[c])/std[c]. It is deterministic and must be the
// last step — adding any step after it panics — because the other steps assume values in [0,1].
// mean and std must have one value per channel, and std values must be positive.
//
// When using vision/data's Loader, prefer its Mean/Std options, which also normalise evaluation
// batches that get no augmentation.
func (p *Pipeline) Normalize(mean, std []float32) *Pipeline {
	if len(mean) == 0 || len(mean) != len(std) {
		panic(fmt.Sprintf("augment: Normalize needs one mean and one std per channel, got %d and %d", len(mean), len(std)))
	}
	for _, s := range std {
		if !(s > 0) {
			panic(fmt.Sprintf("augment: Normalize std %v must be positive", std))
		}
	}
	p.add(normStep{append([]float32(nil), mean...), append([]float32(nil), std...)})
	p.channels = len(mean)
	return p
}

// scratchPool recycles the temporary buffers Crop and Rotate need, so that applying a pipeline in a
// training loop allocates nothing in steady state.
var scratchPool sync.Pool

// Apply transforms img in place. The random choices depend only on (seed, epoch, index): equal triples
// give bit-identical results, whichever goroutine runs them and in whatever order; changing any of the
// three gives independent choices. index should identify the example (e.g. its position in the data
// set), epoch the pass over the data.
//
// Apply panics if img is inconsistent (len(Pix) != H*W*C) or has a channel count different from the
// one a Normalize step was given; use [Pipeline.Validate] to check the latter beforehand.
func (p *Pipeline) Apply(img Image, seed int64, epoch, index int) {
	if p.Len() == 0 {
		return
	}
	img.check()
	if p.channels > 0 && img.C != p.channels {
		panic(fmt.Sprintf("augment: pipeline normalises %d channels but image has %d", p.channels, img.C))
	}
	r := newRNG(seed, epoch, index)
	buf, _ := scratchPool.Get().(*[]float32)
	if buf == nil {
		buf = new([]float32)
	}
	if cap(*buf) < len(img.Pix) {
		*buf = make([]float32, len(img.Pix))
	}
	scratch := (*buf)[:len(img.Pix)]
	for _, s := range p.steps {
		s.apply(img, scratch, &r)
	}
	scratchPool.Put(buf)
}

func clamp01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}
