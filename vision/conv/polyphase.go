package conv

// Strided lowered convolutions, by polyphase decomposition.
//
// With stride s, kernel tap i (row) of the output row h reads the padded input row s·h + i = s·(h + a) + p,
// where p = i mod s and a = i div s: row h+a of the "phase" image Φp = every s-th row of the padded input
// starting at p. So each tap is a plain shift (by a rows and b columns) of one of the s² phase images, all of
// output resolution: the im2col matrix P is again one Concatenate of shifted copies (from several sources),
// with no wasted columns, and y = Wt·P as for stride 1. The phase grids are Hph×Wph = (Hout+amax)×(Wout+amax)
// with amax = (k-1) div s, which is exactly what the shifts of the valid outputs need, so no separators.
//
// The input gradient is computed phase by phase: the gradient of Φp is the correlation of v with the taps of
// phase p (shifted by −a), again a shift-stack and a matrix product, at output resolution. The s² phase
// gradients are interleaved back into the input grid with one Transpose.

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
)

// buildStrided is geometry.build for strides > 1.
func (geo geometry) buildStrided(x, kernel *Node) (y *Node, dx, dw func(v *Node) *Node) {
	s, k := geo.stride, geo.k
	kk := k * k
	K := geo.C * kk
	amax := (k - 1) / s
	hph, wph := geo.Hout+amax, geo.Wout+amax
	G := hph * wph
	kr := Reshape(kernel, kk, geo.C, geo.O)
	wt := Reshape(TransposeAllAxes(kr, 2, 1, 0), geo.O, K) // wt[o, c·k²+t] = kernel[t][c][o]

	// Phase images of the padded input, [C, B, hph, wph], built on demand.
	xp := padSpatial(x, geo.pl, max(0, s*hph-geo.H-geo.pl), geo.pl, max(0, s*wph-geo.W-geo.pl))
	phases := map[[2]int]*Node{}
	phase := func(p, q int) *Node {
		if ph, ok := phases[[2]int{p, q}]; ok {
			return ph
		}
		ph := Slice(xp, AxisRange(), AxisRange(), AxisRange(p, p+s*(hph-1)+1).Stride(s),
			AxisRange(q, q+s*(wph-1)+1).Stride(s))
		phases[[2]int{p, q}] = ph
		return ph
	}
	srcs := make([]*Node, 0, kk)
	offs := make([]int, 0, kk)
	for i := range k {
		for j := range k {
			srcs = append(srcs, phase(i%s, j%s))
			offs = append(offs, (i/s)*wph+j/s)
		}
	}
	nl, nt := leadTrail(srcs[0], offs)
	P := shiftStackMulti(srcs, offs, nl, nt) // [K, (nl+B+nt)·G]
	n := geo.B * geo.Hout * geo.Wout
	var Psub *Node
	compact := worthCompacting(float64((nl+geo.B+nt)*G)/float64(n), geo.C, geo.O)
	if compact {
		Psub = Slice(Reshape(P, K, nl+geo.B+nt, hph, wph), AxisRange(), AxisRange(nl, nl+geo.B),
			AxisRange(0, geo.Hout), AxisRange(0, geo.Wout))
		Psub = Reshape(Psub, K, n)
		y = Reshape(MatMul(wt, Psub), geo.O, geo.B, geo.Hout, geo.Wout)
	} else {
		y = cropImages(MatMul(wt, P), nl, geo.B, hph, wph, geo.Hout, geo.Wout)
	}

	var vgrid *Node // v on the phase grid, [O, B, hph, wph].
	vgridOf := func(v *Node) *Node {
		if vgrid == nil {
			vgrid = separators(v, hph, wph)
		}
		return vgrid
	}

	dw = func(v *Node) *Node {
		if compact {
			return kernelGradient(Reshape(v, geo.O, n), Psub, geo.C, k, geo.O)
		}
		vfull := padImages(Reshape(vgridOf(v), geo.O, geo.B*G), nl*G, nt*G)
		return kernelGradient(vfull, P, geo.C, k, geo.O)
	}

	dx = func(v *Node) *Node {
		vg := vgridOf(v)
		// Offsets of each phase's taps (negative: the gradient of Φp[u] reads v[u-a]), and one common number
		// of zero images so that the phase gradients line up.
		type phaseTaps struct {
			p, q       int
			offs       []int
			kernelPart *Node // [C, O·T]
		}
		var all []phaseTaps
		var allOffs []int
		for p := range s {
			for q := range s {
				pt := phaseTaps{p: p, q: q}
				for i := p; i < k; i += s {
					for j := q; j < k; j += s {
						pt.offs = append(pt.offs, -((i/s)*wph + j/s))
					}
				}
				if len(pt.offs) > 0 {
					part := Slice(kernel, AxisRange(p, k).Stride(s), AxisRange(q, k).Stride(s))
					part = Reshape(part, len(pt.offs), geo.C, geo.O)
					pt.kernelPart = Reshape(TransposeAllAxes(part, 1, 2, 0), geo.C, geo.O*len(pt.offs))
				}
				all = append(all, pt)
				allOffs = append(allOffs, pt.offs...)
			}
		}
		ql, qt := leadTrail(vg, allOffs)
		nImages := ql + geo.B + qt
		grads := make([]*Node, 0, s*s)
		for _, pt := range all {
			var d *Node // [C, nImages·G]
			if len(pt.offs) == 0 {
				d = Zeros(v.Graph(), shapes.Make(v.DType(), geo.C, nImages*G))
			} else {
				srcs := make([]*Node, len(pt.offs))
				for i := range srcs {
					srcs[i] = vg
				}
				d = MatMul(pt.kernelPart, shiftStackMulti(srcs, pt.offs, ql, qt))
			}
			grads = append(grads, Reshape(d, 1, geo.C*nImages*G))
		}
		// Interleave the phases: [s, s, C, nI, hph, wph] -> [C, nI, hph, s, wph, s] = [C, nI, s·hph, s·wph].
		dxp := Reshape(Concatenate(grads, 0), s, s, geo.C, nImages, hph, wph)
		dxp = Reshape(TransposeAllAxes(dxp, 2, 3, 4, 0, 5, 1), geo.C, nImages, s*hph, s*wph)
		// Input rows past s·hph are never read: their gradient is zero.
		dxp = padSpatial(dxp, 0, max(0, geo.pl+geo.H-s*hph), 0, max(0, geo.pl+geo.W-s*wph))
		return Slice(dxp, AxisRange(), AxisRange(ql, ql+geo.B), AxisRange(geo.pl, geo.pl+geo.H),
			AxisRange(geo.pl, geo.pl+geo.W))
	}
	return y, dx, dw
}

// padSpatial adds zero rows (axis 2) and columns (axis 3) around x [C, B, H, W] with Concatenate.
func padSpatial(x *Node, top, bottom, left, right int) *Node {
	g := x.Graph()
	pad := func(x *Node, axis, before, after int) *Node {
		if before == 0 && after == 0 {
			return x
		}
		parts := []*Node{x}
		dims := x.Shape().Clone()
		if before > 0 {
			dims.Dimensions[axis] = before
			parts = append([]*Node{Zeros(g, dims.Clone())}, parts...)
		}
		if after > 0 {
			dims.Dimensions[axis] = after
			parts = append(parts, Zeros(g, dims.Clone()))
		}
		return Concatenate(parts, axis)
	}
	return pad(pad(x, 3, left, right), 2, top, bottom)
}

// padImages adds lead and trail zeros to the columns of vf [O, n].
func padImages(vf *Node, lead, trail int) *Node {
	parts := []*Node{vf}
	d := vf.Shape().Dimensions
	if lead > 0 {
		parts = append([]*Node{Zeros(vf.Graph(), shapes.Make(vf.DType(), d[0], lead))}, parts...)
	}
	if trail > 0 {
		parts = append(parts, Zeros(vf.Graph(), shapes.Make(vf.DType(), d[0], trail)))
	}
	if len(parts) == 1 {
		return vf
	}
	return Concatenate(parts, 1)
}
