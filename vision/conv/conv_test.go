package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	_ "github.com/gomlx/gomlx/backends/default"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// goBackend is the pure-Go backend, or the one GONBGPU_TEST_BACKEND configures (the GPU in
// scripts/gpu-check.sh, see testutil.Backend); tolerances then allow for TF32.
var goBackend = testutil.Backend

func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

type convCase struct {
	B, H, W, C, O, k, stride int
	padding                  Padding
}

func (c convCase) String() string {
	return fmt.Sprintf("b%d_%dx%d_c%d_o%d_k%d_s%d_%s", c.B, c.H, c.W, c.C, c.O, c.k, c.stride, c.padding)
}

// outputsAndGrads runs conv and returns y, dL/dx and dL/dkernel for L = sum(y * r), all as NHWC/HWIO.
func outputsAndGrads(t *testing.T, b compute.Backend, cfg Config, x, kernel, r *tensors.Tensor) [3][]float32 {
	t.Helper()
	return gradsOf(t, b, func(x, kernel *Node) *Node {
		return cfg.Layout.ToNHWC(Apply(cfg.Layout.FromNHWC(x), kernel, cfg))
	}, x, kernel, r)
}

func gradsOf(t *testing.T, b compute.Backend, conv func(x, kernel *Node) *Node, x, kernel, r *tensors.Tensor) [3][]float32 {
	t.Helper()
	outs, err := ExecOnceN(b, func(x, kernel, r *Node) []*Node {
		y := conv(x, kernel)
		loss := ReduceAllSum(Mul(y, r))
		grads := Gradient(loss, x, kernel)
		return []*Node{y, grads[0], grads[1]}
	}, x, kernel, r)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	var res [3][]float32
	for i, o := range outs {
		res[i] = tensors.MustCopyFlatData[float32](o)
	}
	return res
}

// maxRelDiff returns max|a-b| / max(1, max|b|).
func maxRelDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var maxDiff, maxAbs float64
	for i := range a {
		maxDiff = max(maxDiff, math.Abs(float64(a[i]-b[i])))
		maxAbs = max(maxAbs, math.Abs(float64(b[i])))
	}
	return maxDiff / max(1, maxAbs)
}

var testCases = []convCase{
	{B: 2, H: 5, W: 5, C: 3, O: 4, k: 3, stride: 1, padding: Same},
	{B: 3, H: 7, W: 5, C: 8, O: 16, k: 3, stride: 1, padding: Same},
	{B: 2, H: 9, W: 9, C: 16, O: 8, k: 3, stride: 1, padding: Valid},
	{B: 1, H: 6, W: 7, C: 1, O: 5, k: 3, stride: 1, padding: Same},
	{B: 2, H: 7, W: 7, C: 4, O: 8, k: 3, stride: 2, padding: Same},
	{B: 2, H: 8, W: 6, C: 16, O: 32, k: 3, stride: 2, padding: Same},
	{B: 2, H: 9, W: 7, C: 3, O: 6, k: 3, stride: 2, padding: Valid},
	{B: 2, H: 5, W: 7, C: 8, O: 4, k: 1, stride: 1, padding: Same},
	{B: 3, H: 7, W: 7, C: 16, O: 32, k: 1, stride: 2, padding: Same},
	{B: 2, H: 6, W: 6, C: 4, O: 8, k: 1, stride: 2, padding: Valid},
	{B: 2, H: 7, W: 6, C: 3, O: 4, k: 5, stride: 1, padding: Same},
	{B: 2, H: 6, W: 6, C: 2, O: 3, k: 2, stride: 1, padding: Same},
	{B: 2, H: 11, W: 9, C: 3, O: 5, k: 5, stride: 2, padding: Same},
	{B: 2, H: 8, W: 7, C: 3, O: 4, k: 2, stride: 2, padding: Same},
	{B: 2, H: 10, W: 8, C: 4, O: 5, k: 3, stride: 3, padding: Same},
	{B: 2, H: 9, W: 11, C: 2, O: 3, k: 4, stride: 3, padding: Valid},
	{B: 2, H: 5, W: 5, C: 64, O: 48, k: 3, stride: 2, padding: Same},
	// Wide layers on tiny images take the "compact" path (see worthCompacting and TestCompactPathCovered).
	{B: 2, H: 4, W: 3, C: 48, O: 64, k: 3, stride: 1, padding: Same},
	{B: 3, H: 5, W: 5, C: 64, O: 40, k: 3, stride: 1, padding: Valid},
}

// TestCompactPathCovered makes sure testCases exercise both the grid and the compact lowering.
func TestCompactPathCovered(t *testing.T) {
	var grid, compact int
	for _, tc := range testCases {
		if tc.k == 1 || tc.stride > 1 {
			continue
		}
		b := goBackend(t)
		g := NewGraph(b, "geometry")
		x := Parameter(g, "x", shapes.Make(dtypes.Float32, tc.C, tc.B, tc.H, tc.W))
		kernel := Parameter(g, "k", shapes.Make(dtypes.Float32, tc.k, tc.k, tc.C, tc.O))
		geo := newGeometry(x, kernel, tc.stride, tc.padding)
		_, nl, nt := shiftStack(separators(x, geo.H1, geo.W1), geo.offsets())
		if worthCompacting(float64((nl+geo.B+nt)*geo.G)/float64(geo.B*geo.Hout*geo.Wout), geo.C, geo.O) {
			compact++
		} else {
			grid++
		}
	}
	if grid == 0 || compact == 0 {
		t.Errorf("stride-1 test cases: %d use the grid lowering, %d the compact one; want both", grid, compact)
	}
}

// TestLoweredMatchesNative compares the lowered convolution with the backend's native one and with an
// independent slices+Einsum reference differentiated by GoMLX: outputs and the gradients with respect to the
// input and the kernel, in both layouts.
func TestLoweredMatchesNative(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"output", "grad x", "grad kernel"}
	for _, tc := range testCases {
		x := randTensor(rng, tc.B, tc.H, tc.W, tc.C)
		kernel := randTensor(rng, tc.k, tc.k, tc.C, tc.O)
		ho, wo := OutputSize(tc.H, tc.k, tc.stride, tc.padding), OutputSize(tc.W, tc.k, tc.stride, tc.padding)
		r := randTensor(rng, tc.B, ho, wo, tc.O)
		base := Config{Stride: tc.stride, Padding: tc.padding}
		nativeCfg := base
		nativeCfg.Impl = Native
		native := outputsAndGrads(t, b, nativeCfg, x, kernel, r)
		reference := gradsOf(t, b, func(x, kernel *Node) *Node {
			return referenceConv(x, kernel, tc.stride, tc.padding)
		}, x, kernel, r)
		// GoMLX v0.28.2's gradient of ConvGeneral with respect to its input is wrong when the padding is
		// asymmetric (even kernels with Same padding) and when the strides leave the last input rows or
		// columns unread: there only the reference is trusted for it.
		asymmetric := (tc.k%2 == 0 && tc.padding == Same) || unreadInput(tc.H, tc) || unreadInput(tc.W, tc)
		for _, layout := range []Layout{CNHW, NHWC} {
			t.Run(tc.String()+"_"+layout.String(), func(t *testing.T) {
				cfg := base
				cfg.Impl, cfg.Layout = Lowered, layout
				got := outputsAndGrads(t, b, cfg, x, kernel, r)
				if layout == CNHW {
					// The native convolution with CNHW axes (what XLA gets when a model asks for CNHW).
					cfg.Impl = Native
					nativeCNHW := outputsAndGrads(t, b, cfg, x, kernel, r)
					for i, name := range names {
						if i == 1 && asymmetric {
							continue
						}
						if d := maxRelDiff(nativeCNHW[i], native[i]); d > testutil.Tol(b, 1e-5) {
							t.Errorf("native CNHW %s differs from native NHWC: max relative difference %g", name, d)
						}
					}
				}
				for i, name := range names {
					if d := maxRelDiff(got[i], reference[i]); d > testutil.Tol(b, 1e-5) {
						t.Errorf("%s differs from the reference: max relative difference %g", name, d)
					}
					if i == 1 && asymmetric {
						continue
					}
					if d := maxRelDiff(got[i], native[i]); d > testutil.Tol(b, 1e-5) {
						t.Errorf("%s differs from the native convolution: max relative difference %g", name, d)
					}
				}
			})
		}
	}
}

// unreadInput reports whether a convolution never reads the last rows of an input axis of size n.
func unreadInput(n int, tc convCase) bool {
	pl, _ := Pads(tc.k, tc.padding)
	out := OutputSize(n, tc.k, tc.stride, tc.padding)
	return tc.stride*(out-1)+tc.k-pl < n
}

// TestComparisonDetectsErrors makes sure the comparison above can fail: a kernel flipped in space (a
// classic convolution-vs-correlation bug) must be reported as different.
func TestComparisonDetectsErrors(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(rng, 2, 6, 6, 3)
	kernel := randTensor(rng, 3, 3, 3, 4)
	r := randTensor(rng, 2, 6, 6, 4)
	flipped, err := ExecOnce(b, func(k *Node) *Node { return Reverse(k, 0, 1) }, kernel)
	if err != nil {
		t.Fatal(err)
	}
	want := outputsAndGrads(t, b, Config{Impl: Native}, x, kernel, r)
	got := outputsAndGrads(t, b, Config{Impl: Lowered}, x, flipped, r)
	if d := maxRelDiff(got[0], want[0]); d < 1e-2 {
		t.Errorf("a flipped kernel gave the same output (max relative difference %g): the comparison is vacuous", d)
	}
}

// TestAutoUsesLowered checks that on the pure-Go backend the default implementation is the lowered one
// (no ConvGeneral in the graph), and that Conv2D's output has the expected shape.
func TestAutoUsesLowered(t *testing.T) {
	b := testutil.GoBackend(t) // about the pure-Go backend itself, whatever GONBGPU_TEST_BACKEND says
	if got := Auto.Resolve(b); got != Lowered {
		t.Fatalf("Auto resolves to %s on the pure-Go backend, want lowered", got)
	}
	if PreferredLayout(b) != CNHW {
		t.Errorf("PreferredLayout = %s on the pure-Go backend, want CNHW", PreferredLayout(b))
	}
	g := NewGraph(b, "test")
	x := Parameter(g, "x", randTensor(rand.New(rand.NewPCG(0, 0)), 2, 9, 9, 3).Shape())
	kernel := Parameter(g, "k", randTensor(rand.New(rand.NewPCG(0, 0)), 3, 3, 3, 8).Shape())
	y := Conv2D(x, kernel, 2, Same)
	if want := []int{2, 5, 5, 8}; fmt.Sprint(y.Shape().Dimensions) != fmt.Sprint(want) {
		t.Errorf("Conv2D output %s, want dims %v", y.Shape(), want)
	}
	for _, n := range g.Nodes() {
		if n.Type() == NodeTypeConvGeneral {
			t.Errorf("found a native ConvGeneral in the lowered graph: %s", n)
		}
	}
}

func TestOutputSize(t *testing.T) {
	for _, tc := range []struct {
		n, k, s int
		p       Padding
		want    int
	}{
		{28, 3, 1, Same, 28}, {28, 3, 2, Same, 14}, {7, 3, 2, Same, 4}, {7, 1, 2, Same, 4},
		{9, 3, 1, Valid, 7}, {9, 3, 2, Valid, 4}, {8, 1, 2, Valid, 4},
	} {
		if got := OutputSize(tc.n, tc.k, tc.s, tc.p); got != tc.want {
			t.Errorf("OutputSize(%d, k=%d, s=%d, %s) = %d, want %d", tc.n, tc.k, tc.s, tc.p, got, tc.want)
		}
	}
}

// referenceConv is an independent NHWC convolution built from zero-concatenation padding, one Slice per
// kernel tap and an Einsum, differentiated by GoMLX's own autodiff. It is slow but simple.
func referenceConv(x, kernel *Node, stride int, padding Padding) *Node {
	g := x.Graph()
	d := x.Shape().Dimensions
	k := kernel.Shape().Dimensions[0]
	pl, ph := Pads(k, padding)
	padAxis := func(x *Node, axis int) *Node {
		dims := x.Shape().Clone()
		parts := []*Node{}
		if pl > 0 {
			dims.Dimensions[axis] = pl
			parts = append(parts, Zeros(g, dims.Clone()))
		}
		parts = append(parts, x)
		if ph > 0 {
			dims.Dimensions[axis] = ph
			parts = append(parts, Zeros(g, dims.Clone()))
		}
		return Concatenate(parts, axis)
	}
	xp := padAxis(padAxis(x, 1), 2)
	ho, wo := OutputSize(d[1], k, stride, padding), OutputSize(d[2], k, stride, padding)
	var y *Node
	for i := range k {
		for j := range k {
			xs := Slice(xp, AxisRange(), AxisRange(i, i+stride*(ho-1)+1).Stride(stride),
				AxisRange(j, j+stride*(wo-1)+1).Stride(stride), AxisRange())
			wij := Reshape(Slice(kernel, AxisElem(i), AxisElem(j)), d[3], -1)
			term := Einsum("bhwc,co->bhwo", xs, wij)
			if y == nil {
				y = term
			} else {
				y = Add(y, term)
			}
		}
	}
	return y
}
