package resnet

import "math"

// Footprint is a lower bound of what training the model costs in memory, from the architecture alone:
// no graph is built, so it can refuse a size before anything is allocated.
type Footprint struct {
	// Params is the number of trained parameters (convolution kernels, batch-norm scales and offsets,
	// the classifier), plus the batch-norm running statistics.
	Params int64
	// Activations is the number of values one image keeps for the backward pass: the output of every
	// convolution and of its batch norm (the ReLUs', the residual sums' and the backend's temporaries
	// come on top).
	Activations int64
}

// Footprint returns the model's footprint for images of h×w×c. Sizes saturate instead of overflowing,
// so absurd widths or image sizes give absurd (huge) figures, never small or negative ones.
func (b *Builder) Footprint(h, w, c int) Footprint {
	s, ok := specs[b.model]
	if !ok {
		return Footprint{}
	}
	channel := func(x int) int64 { return int64(max(1, int(math.Min(math.Round(float64(x)*b.width), 1<<40)))) }
	var f Footprint
	add := func(x *int64, v float64) {
		if v >= float64(math.MaxInt64)-float64(*x) {
			*x = math.MaxInt64
		} else {
			*x += int64(v)
		}
	}
	if b.inputSize > 0 { // the model resizes its input first
		h, w = b.inputSize, b.inputSize
	}
	hh, ww := float64(h), float64(w)
	convBN := func(in, out int64, k, stride int) {
		if stride > 1 {
			hh, ww = math.Ceil(hh/float64(stride)), math.Ceil(ww/float64(stride))
		}
		add(&f.Params, float64(k*k)*float64(in)*float64(out)+5*float64(out)) // kernel; scale, offset, mean, variance, average weight
		add(&f.Activations, 2*hh*ww*float64(out))                            // convolution and batch-norm outputs
	}
	in := int64(c)
	if b.imageNetStem { // 7×7 stride-2 convolution, then a stride-2 max-pool
		convBN(in, channel(s.stem), 7, 2)
		hh, ww = math.Ceil(hh/2), math.Ceil(ww/2)
	} else {
		convBN(in, channel(s.stem), 3, 1)
	}
	in = channel(s.stem)
	for stage := range s.widths {
		width := channel(s.widths[stage])
		for block := range s.blocks[stage] {
			stride := 1
			if block == 0 && stage > 0 {
				stride = 2
			}
			inH, inW := hh, ww
			out := width
			if s.block == basic {
				convBN(in, width, 3, stride)
				convBN(width, width, 3, 1)
			} else {
				out = 4 * width
				convBN(in, width, 1, 1)
				convBN(width, width, 3, stride)
				convBN(width, out, 1, 1)
			}
			if !b.plain && (stride != 1 || in != out) {
				h2, w2 := hh, ww
				hh, ww = inH, inW
				convBN(in, out, 1, stride)
				hh, ww = h2, w2
			}
			in = out
		}
	}
	add(&f.Params, float64(in+1)*float64(max(b.numClasses, 1)))
	if b.freezeBackbone { // no backward pass through the backbone: only the head's input is kept
		f.Activations = in
	}
	return f
}
