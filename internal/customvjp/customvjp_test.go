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

// TestApplyMulti: two outputs, one of which gets no gradient from the loss (its v must be zeros), and
// hand-written gradients that see both outputs' gradients.
func TestApplyMulti(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, useSecond := range []bool{true, false} {
		outs, err := ExecOnceN(b, func(a, c *Node) []*Node {
			ys := ApplyMulti([]*Node{a, c}, func(in []*Node) ([]*Node, []MultiGrad) {
				return []*Node{Mul(in[0], in[1]), Add(in[0], in[1])}, []MultiGrad{
					func(vs []*Node) *Node { return Add(MulScalar(vs[0], 10), MulScalar(vs[1], 100)) },
					func(vs []*Node) *Node { return Add(vs[0], vs[1]) },
				}
			})
			loss := ReduceAllSum(ys[0])
			if useSecond {
				loss = Add(loss, ReduceAllSum(MulScalar(ys[1], 2)))
			}
			grads := Gradient(loss, a, c)
			return []*Node{ys[0], ys[1], grads[0], grads[1]}
		}, []float32{1, 2}, []float32{3, 4})
		if err != nil {
			t.Fatalf("%+v", err)
		}
		v1 := float32(0)
		if useSecond {
			v1 = 2
		}
		checks := []struct {
			name      string
			got, want []float32
		}{
			{"y0", tensors.MustCopyFlatData[float32](outs[0]), []float32{3, 8}},
			{"y1", tensors.MustCopyFlatData[float32](outs[1]), []float32{4, 6}},
			{"da", tensors.MustCopyFlatData[float32](outs[2]), []float32{10 + 100*v1, 10 + 100*v1}},
			{"dc", tensors.MustCopyFlatData[float32](outs[3]), []float32{1 + v1, 1 + v1}},
		}
		for _, c := range checks {
			if !slices.Equal(c.got, c.want) {
				t.Errorf("second output used=%v: %s = %v, want %v", useSecond, c.name, c.got, c.want)
			}
		}
	}
}
