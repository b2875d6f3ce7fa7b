package customvjp

import (
	"slices"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/gomlx/backends/default"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
)

// TestApply uses deliberately "wrong" gradients, to see that they, not autodiff's, come out; and checks
// that an input whose gradient is not requested never has its gradient function called.
func TestApply(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	calledB := false
	outs, err := ExecOnceN(b, func(a, bb *Node) []*Node {
		y := Apply([]*Node{a, bb}, func(in []*Node) (*Node, []Grad) {
			y := Mul(in[0], in[1]) // [3] * [3]
			return y, []Grad{
				func(v *Node) *Node { return MulScalar(v, 10) },
				func(v *Node) *Node { calledB = true; return MulScalar(v, 20) },
			}
		})
		loss := ReduceAllSum(Mul(y, Const(a.Graph(), []float32{1, 2, 3})))
		return []*Node{y, Gradient(loss, a)[0]}
	}, []float32{1, 2, 3}, []float32{4, 5, 6})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if got, want := tensors.MustCopyFlatData[float32](outs[0]), []float32{4, 10, 18}; !slices.Equal(got, want) {
		t.Errorf("y = %v, want %v", got, want)
	}
	if got, want := tensors.MustCopyFlatData[float32](outs[1]), []float32{10, 20, 30}; !slices.Equal(got, want) {
		t.Errorf("custom gradient = %v, want %v", got, want)
	}
	if calledB {
		t.Errorf("the gradient function of an input whose gradient was not requested was called")
	}
}
