package npcheck

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func newChecker(t *testing.T) *Checker {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatalf("%v (make test installs python3-numpy)", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestCheckAgainstNumpy(t *testing.T) {
	c := newChecker(t)
	a := tensors.FromValue([][]float32{{1, 2}, {3, 4}})
	b := tensors.FromValue([]float32{10, 20})
	r := c.Check("broadcast add", "a + b", tensors.FromValue([][]float32{{11, 22}, {13, 24}}), In("a", a), In("b", b))
	if !r.Equal || r.NumPyError != "" || !r.AsExpected() {
		t.Fatalf("equal results not recognised: %+v", r)
	}
	r = c.Check("wrong", "a + b", tensors.FromValue([][]float32{{11, 22}, {13, 25}}), In("a", a), In("b", b))
	if r.Equal || r.AsExpected() {
		t.Fatalf("a wrong value must not match: %+v", r)
	}
	r = c.Check("shape", "a + b", tensors.FromValue([]float32{11, 22, 13, 24}), In("a", a), In("b", b))
	if r.Equal {
		t.Fatalf("a wrong shape must not match")
	}
	r = c.Differs("int division", "x // y", "numpy floors, Go truncates", tensors.FromValue([]int32{-3}),
		In("x", tensors.FromValue([]int32{-7})), In("y", tensors.FromValue([]int32{2})))
	if r.Equal || !r.AsExpected() {
		t.Fatalf("-7//2 is -4 in numpy, -3 in Go: %+v", r)
	}
	r = c.Check("nan", "np.sqrt(x)", tensors.FromValue([]float64{math.NaN(), 2}), In("x", tensors.FromValue([]float64{-1, 4})))
	if !r.Equal {
		t.Fatalf("NaN should equal NaN: %+v", r)
	}
	r = c.Check("dtype", "x * 2", tensors.FromValue([]int32{2}), In("x", tensors.FromValue([]int32{1})))
	if !r.Equal || r.DTypeNote != "" {
		t.Fatalf("int32*2 stays int32 in numpy: %+v", r)
	}
	r = c.Differs("index", "x[5]", "out of range", tensors.FromScalar(int32(3)), In("x", tensors.FromValue([]int32{1, 2, 3})))
	if !strings.Contains(r.NumPyError, "IndexError") || !r.AsExpected() {
		t.Fatalf("numpy's IndexError not captured: %+v", r)
	}
	if s := c.Summary(); s != "numpy agreement: 5/7 checks as expected (3 equal, 2 deliberate differences)" {
		t.Fatalf("summary: %s", s)
	}
}
