package conv

// The lowered convolution, in the CNHW layout.
//
// Take x as [C, B, H, W]. Give every image S = max(padBefore, padAfter) zero columns on the right and S zero
// rows at the bottom ("separators"), so each image is an H1×W1 grid (H1 = H+S, W1 = W+S), and flatten:
// xf is [C, B·H1·W1]. Kernel tap (i, j) of a stride-1 convolution reads, for the output at flat position r,
// the input at r + off(i,j) with off(i,j) = (i-pad)·W1 + (j-pad): a plain shift of the flat array, because
// whatever falls off the left/right/top/bottom of an image lands in a separator (zero) or in the zero
// images added before and after the batch. So the im2col matrix P, [C·k², L] with row c·k²+tap, is one
// Concatenate of, per tap, (zeros, xf, zeros) with the zeros' lengths shifting xf by off: every piece is a
// long contiguous run, and no Slice (an element-by-element loop on the pure-Go backend) is needed.
// Then y = Wt·P with Wt = [O, C·k²] (the kernel, transposed: tiny), cropped to [O, B, Hout, Wout].
// Positions on separators are computed and thrown away (a few % of the FLOPs).
//
// Backward, with v the gradient of the output:
//   - dW:  dWt = vfull·Pᵀ, where vfull is v on P's grid (zeros elsewhere): DotGeneral with both contracting
//     axes last, a layout the backend's MatMul takes as is.
//   - dX:  the full correlation of v with the flipped kernel, which is the same construction again on v
//     (offsets negated, kernel rearranged to [C, O·k²]).
//
// Strides > 1 use a polyphase decomposition instead (polyphase.go). 1×1 kernels without padding are a plain
// matrix product (after a strided Slice of x for strides > 1).
//
// The gradients are attached with package internal/customvjp.

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/internal/customvjp"
)

// geometry of a lowered convolution of x [C, B, H, W] with a k×k kernel.
type geometry struct {
	C, B, H, W, O int
	k, stride     int
	pl, ph        int // padding before/after, on both spatial axes.
	Hout, Wout    int
	H1, W1, G     int // per-image grid with separators; G = H1·W1.
}

func newGeometry(x, kernel *Node, stride int, padding Padding) geometry {
	d := x.Shape().Dimensions
	kd := kernel.Shape().Dimensions
	g := geometry{C: d[0], B: d[1], H: d[2], W: d[3], O: kd[3], k: kd[0], stride: stride}
	g.pl, g.ph = Pads(g.k, padding)
	g.Hout = OutputSize(g.H, g.k, stride, padding)
	g.Wout = OutputSize(g.W, g.k, stride, padding)
	s := max(g.pl, g.ph)
	g.H1, g.W1 = g.H+s, g.W+s
	g.G = g.H1 * g.W1
	return g
}

// offsets returns the flat shift of each kernel tap (row-major over (i, j)), for the forward pass.
func (g geometry) offsets() []int {
	offs := make([]int, 0, g.k*g.k)
	for i := range g.k {
		for j := range g.k {
			offs = append(offs, (i-g.pl)*g.W1+(j-g.pl))
		}
	}
	return offs
}

// loweredCNHW is the lowered convolution of x [C, B, H, W] with kernel [k, k, C, O]; see the file comment.
func loweredCNHW(x, kernel *Node, stride int, padding Padding) *Node {
	geo := newGeometry(x, kernel, stride, padding)
	if geo.k == 1 && geo.pl == 0 && geo.ph == 0 {
		if stride > 1 {
			x = Slice(x, AxisRange(), AxisRange(), AxisRange().Stride(stride), AxisRange().Stride(stride))
		}
		return conv1x1(x, kernel)
	}
	return withVJP(x, kernel, func(x, kernel *Node) (y *Node, dx, dw func(v *Node) *Node) {
		if stride > 1 {
			return geo.buildStrided(x, kernel)
		}
		return geo.build(x, kernel)
	})
}

// conv1x1 is y[O, n] = Wᵀ[O, C]·x[C, n], with gradients dx = W·v and dWᵀ = v·xᵀ.
func conv1x1(x, kernel *Node) *Node {
	return withVJP(x, kernel, func(x, kernel *Node) (y *Node, dx, dw func(v *Node) *Node) {
		d := x.Shape().Dimensions
		C, n := d[0], d[1]*d[2]*d[3]
		O := kernel.Shape().Dimensions[3]
		w := Reshape(kernel, C, O)
		xf := Reshape(x, C, n)
		// Transpose the (small) kernel ourselves: DotGeneral would otherwise transpose x as well.
		y = Reshape(MatMul(Transpose(w, 0, 1), xf), O, d[1], d[2], d[3])
		dx = func(v *Node) *Node {
			vf := Reshape(v, O, n)
			return Reshape(MatMul(w, vf), x.Shape().Dimensions...)
		}
		dw = func(v *Node) *Node {
			vf := Reshape(v, O, n)
			dwt := DotGeneral(xf, []int{1}, nil, vf, []int{1}, nil) // [C, O]
			return Reshape(dwt, kernel.Shape().Dimensions...)
		}
		return
	})
}

// build returns the forward output and the two gradient builders, for stride 1.
func (geo geometry) build(x, kernel *Node) (y *Node, dx, dw func(v *Node) *Node) {
	kk := geo.k * geo.k
	K := geo.C * kk
	kr := Reshape(kernel, kk, geo.C, geo.O)
	wt := Reshape(TransposeAllAxes(kr, 2, 1, 0), geo.O, K) // wt[o, c·k²+t] = kernel[t][c][o]

	xsep := separators(x, geo.H1, geo.W1)
	offs := geo.offsets()
	P, nl, nt := shiftStack(xsep, offs) // [K, (nl+B+nt)·G]
	var Psub *Node
	compact := worthCompacting(float64((nl+geo.B+nt)*geo.G)/float64(geo.B*geo.Hout*geo.Wout), geo.C, geo.O)
	if !compact {
		yt := MatMul(wt, P)
		y = cropImages(yt, nl, geo.B, geo.H1, geo.W1, geo.Hout, geo.Wout)
	} else {
		Pg := Reshape(P, K, nl+geo.B+nt, geo.H1, geo.W1)
		Psub = Slice(Pg, AxisRange(), AxisRange(nl, nl+geo.B), AxisRange(0, geo.Hout), AxisRange(0, geo.Wout))
		Psub = Reshape(Psub, K, geo.B*geo.Hout*geo.Wout)
		y = Reshape(MatMul(wt, Psub), geo.O, geo.B, geo.Hout, geo.Wout)
	}

	// vsep is v on the separator grid, [O, B, H1, W1] (Concatenate: faster than Pad on the pure-Go backend).
	var vsep *Node
	vsepOf := func(v *Node) *Node {
		if vsep == nil {
			vsep = separators(v, geo.H1, geo.W1)
		}
		return vsep
	}

	dw = func(v *Node) *Node {
		if !compact {
			// v on P's grid: separators, and the nl/nt zero images.
			vfull := padImages(Reshape(vsepOf(v), geo.O, geo.B*geo.G), nl*geo.G, nt*geo.G)
			return kernelGradient(vfull, P, geo.C, geo.k, geo.O)
		}
		return kernelGradient(Reshape(v, geo.O, -1), Psub, geo.C, geo.k, geo.O)
	}

	dx = func(v *Node) *Node {
		neg := make([]int, len(offs))
		for i, o := range offs {
			neg[i] = -o
		}
		Q, ql, qt := shiftStack(vsepOf(v), neg) // [O·k², ...], row o·k²+t
		wd := Reshape(TransposeAllAxes(kr, 1, 2, 0), geo.C, geo.O*kk)
		if worthCompacting(float64((ql+geo.B+qt)*geo.G)/float64(geo.B*geo.H*geo.W), geo.C, geo.O) {
			Qg := Reshape(Q, geo.O*kk, ql+geo.B+qt, geo.H1, geo.W1)
			Qsub := Slice(Qg, AxisRange(), AxisRange(ql, ql+geo.B), AxisRange(0, geo.H), AxisRange(0, geo.W))
			return Reshape(MatMul(wd, Reshape(Qsub, geo.O*kk, -1)), geo.C, geo.B, geo.H, geo.W)
		}
		dxt := MatMul(wd, Q)
		return cropImages(dxt, ql, geo.B, geo.H1, geo.W1, geo.H, geo.W)
	}
	return y, dx, dw
}

// kernelGradient returns a convolution's kernel gradient [k, k, C, O] from the output gradient v [O, n] and
// the im2col matrix P [C·k², n] on the same n columns: dW = P·vᵀ, a product contracting over the long n axis.
//
// Why P on the left: a product's right operand with its contracting axis last is packed by the pure-Go
// backend's generic (non-SIMD) routine, its left operand by an AVX-512 one. P is the larger of the two (k²·C
// rows against O), so it goes left and only the smaller v takes the slow path.
func kernelGradient(v, P *Node, c, k, o int) *Node {
	dw := DotGeneral(P, []int{1}, nil, v, []int{1}, nil) // [C·k², O], row c·k²+t
	dw = Reshape(dw, c, k*k, o)
	return Reshape(TransposeAllAxes(dw, 1, 0, 2), k, k, c, o)
}

// worthCompacting decides whether to slice the im2col matrix down to the output positions before a matrix
// product, rather than multiply it whole (separators and padding images included) and crop the product.
// gridRatio is (columns on the grid) / (output positions). Per column dropped, the three matrix products
// of forward+backward save about 3·2·9·C·O flops (at ~40 GFLOP/s on the pure-Go backend), while slicing
// costs about 3.5 ns per element of 9·(C+O) rows (its Slice is an element-by-element loop): compact when
// (gridRatio-1)·C·O/(C+O) > 23. In practice: only for wide layers on small images (ResNet-18's last
// stages), never for the 16–64-channel CIFAR ResNets.
func worthCompacting(gridRatio float64, c, o int) bool {
	return (gridRatio-1)*float64(c*o)/float64(c+o) > 23
}

// separators appends zero columns and rows to x [C, B, H, W] so that it becomes [C, B, h1, w1].
func separators(x *Node, h1, w1 int) *Node {
	d := x.Shape().Dimensions
	C, B, H, W := d[0], d[1], d[2], d[3]
	g := x.Graph()
	if w1 > W {
		x = Concatenate([]*Node{x, Zeros(g, shapes.Make(x.DType(), C, B, H, w1-W))}, 3)
	}
	if h1 > H {
		x = Concatenate([]*Node{x, Zeros(g, shapes.Make(x.DType(), C, B, h1-H, w1))}, 2)
	}
	return x
}

// shiftStack takes x [C, B, H1, W1] and returns P [C·len(offs), (nl+B+nt)·H1·W1] with
// P[c·len(offs)+t, (nl·G) + r] = xflat[c, r + offs[t]] (zero outside x), along with the number of zero
// images nl and nt added before and after the batch. It is a single Concatenate.
func shiftStack(x *Node, offs []int) (P *Node, nl, nt int) {
	srcs := make([]*Node, len(offs))
	for i := range srcs {
		srcs[i] = x
	}
	nl, nt = leadTrail(x, offs)
	return shiftStackMulti(srcs, offs, nl, nt), nl, nt
}

// leadTrail returns the number of zero images needed before and after x's batch for the given shifts.
func leadTrail(x *Node, offs []int) (nl, nt int) {
	d := x.Shape().Dimensions
	G := d[2] * d[3]
	maxNeg, maxPos := 0, 0
	for _, o := range offs {
		maxNeg = max(maxNeg, -o)
		maxPos = max(maxPos, o)
	}
	// Tap t is (lead-o) zeros, xf, (trail+o) zeros: lead must cover the largest positive offset and trail the
	// largest negative one.
	return (maxPos + G - 1) / G, (maxNeg + G - 1) / G
}

// shiftStackMulti is shiftStack with one source per tap (all [C, B, H1, W1]) and given numbers of zero
// images before (nl) and after (nt) the batch, which must be enough for the offsets (see leadTrail).
func shiftStackMulti(srcs []*Node, offs []int, nl, nt int) *Node {
	d := srcs[0].Shape().Dimensions
	C, B, G := d[0], d[1], d[2]*d[3]
	lead, trail := nl*G, nt*G
	g := srcs[0].Graph()
	dtype := srcs[0].DType()
	zeros := map[int]*Node{}
	zero := func(n int) *Node {
		if z, ok := zeros[n]; ok {
			return z
		}
		z := Zeros(g, shapes.Make(dtype, C, n))
		zeros[n] = z
		return z
	}
	flat := map[*Node]*Node{}
	parts := make([]*Node, 0, 3*len(offs))
	for t, o := range offs {
		if lead-o < 0 || trail+o < 0 {
			exceptions.Panicf("conv: internal error, offset %d needs more than %d/%d zero images", o, nl, nt)
		}
		if n := lead - o; n > 0 {
			parts = append(parts, zero(n))
		}
		xf, ok := flat[srcs[t]]
		if !ok {
			xf = Reshape(srcs[t], C, B*G)
			flat[srcs[t]] = xf
		}
		parts = append(parts, xf)
		if n := trail + o; n > 0 {
			parts = append(parts, zero(n))
		}
	}
	P := parts[0]
	if len(parts) > 1 {
		P = Concatenate(parts, 1)
	}
	L := (nl + B + nt) * G
	if P.Shape().Dimensions[1] != len(offs)*L {
		exceptions.Panicf("conv: internal error, shiftStack built %s, expected [%d, %d]", P.Shape(), C, len(offs)*L)
	}
	return Reshape(P, C*len(offs), L)
}

// cropImages takes yt [O, (nl+B+nt)·h1·w1] and returns [O, B, h, w]: images nl..nl+B, top-left h×w.
func cropImages(yt *Node, nl, B, h1, w1, h, w int) *Node {
	O := yt.Shape().Dimensions[0]
	n := yt.Shape().Dimensions[1] / (h1 * w1)
	yt = Reshape(yt, O, n, h1, w1)
	if nl == 0 && n == B && h == h1 && w == w1 {
		return yt
	}
	return Slice(yt, AxisRange(), AxisRange(nl, nl+B), AxisRange(0, h), AxisRange(0, w))
}

// withVJP returns build's forward output y(x, w), with gradients given by build's dx and dw functions (each
// receives the gradient v of y and returns the gradient of x or w). See package internal/customvjp.
func withVJP(x, w *Node, build func(x, w *Node) (y *Node, dx, dw func(v *Node) *Node)) *Node {
	return customvjp.Apply([]*Node{x, w}, func(in []*Node) (*Node, []customvjp.Grad) {
		y, dx, dw := build(in[0], in[1])
		return y, []customvjp.Grad{dx, dw}
	})
}
