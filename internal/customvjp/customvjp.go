// Package customvjp attaches hand-written gradients to a GoMLX computation with several inputs.
//
// GoMLX v0.28 only offers custom gradients for one-input identities (graph.IdentityWithCustomGradient).
// [Apply] builds on it:
//   - the output y is computed from StopGradient copies of the inputs, and passes through an identity whose
//     custom gradient records v, the gradient arriving at y, and passes it on;
//   - every input also passes through an identity whose custom gradient ignores what arrives and returns the
//     hand-written gradient for v instead; those identities are tied to y by a zero term,
//     Where(false, ·, 0), added to the smallest input, so that reverse-mode autodiff visits them, and always
//     after y (GoMLX visits nodes in reverse creation order).
//
// The gradients that autodiff derives along the tie are never used, and the backends' dead-code elimination
// drops them (the pure-Go backend's executor only runs nodes that an output needs; XLA prunes them too).
// Gradients are built lazily: the function for an input that needs no gradient is never called.
package customvjp

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/support/exceptions"
)

// Grad builds the gradient of one input from v, the gradient of the output.
type Grad func(v *Node) *Node

// MultiGrad builds the gradient of one input from vs, the gradients of each output (zeros for an output
// that receives none).
type MultiGrad func(vs []*Node) *Node

// Apply returns build(inputs)'s output y, whose gradient with respect to inputs[i] is grads[i](v) for v the
// gradient with respect to y. build receives stand-ins for the inputs (same values) and must use all of
// them; it must only use differentiable ops (its automatic gradient is built, then discarded).
func Apply(inputs []*Node, build func(inputs []*Node) (y *Node, grads []Grad)) *Node {
	return ApplyMulti(inputs, func(in []*Node) ([]*Node, []MultiGrad) {
		y, grads := build(in)
		multi := make([]MultiGrad, len(grads))
		for i, grad := range grads {
			multi[i] = func(vs []*Node) *Node { return grad(vs[0]) }
		}
		return []*Node{y}, multi
	})[0]
}

// ApplyMulti is Apply for a computation with several outputs: grads[i](vs) is the gradient with respect to
// inputs[i], given the gradient of every output. It serves computations that are cheaper split into
// independent pieces joined by a few small values, such as batch normalization of a batch processed in
// parts (the parts share only per-channel statistics), where one output would force a copy to join them.
func ApplyMulti(inputs []*Node, build func(inputs []*Node) (ys []*Node, grads []MultiGrad)) []*Node {
	if len(inputs) == 0 {
		exceptions.Panicf("customvjp.Apply: no inputs")
	}
	var raw, vs []*Node // the outputs as built, and the gradients that reached them
	var grads []MultiGrad
	g := inputs[0].Graph()
	var tie *Node
	smallest := 0
	for i, x := range inputs {
		x := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
			full := make([]*Node, len(raw))
			seen := false
			for k, v := range vs {
				if v != nil {
					full[k], seen = v, true
				} else {
					full[k] = ZerosLike(raw[k])
				}
			}
			if !seen {
				exceptions.Panicf("customvjp: gradient requested for an input before the outputs'")
			}
			return grads[i](full)
		})
		specs := make([]SliceAxisSpec, x.Rank())
		for j := range specs {
			specs[j] = AxisElem(0)
		}
		first := ConvertDType(Reshape(Slice(x, specs...)), inputs[smallest].DType())
		if tie == nil {
			tie = first
		} else {
			tie = Add(tie, first)
		}
		if x.Shape().Size() < inputs[smallest].Shape().Size() {
			smallest = i
		}
	}
	stand := make([]*Node, len(inputs))
	for i, x := range inputs {
		stand[i] = StopGradient(x)
	}
	dtype := inputs[smallest].DType()
	tie = Where(Const(g, false), ConvertDType(tie, dtype), ScalarZero(g, dtype))
	stand[smallest] = Add(stand[smallest], tie)
	raw, grads = build(stand)
	if len(grads) != len(inputs) {
		exceptions.Panicf("customvjp.Apply: build returned %d gradient functions for %d inputs", len(grads), len(inputs))
	}
	if len(raw) == 0 {
		exceptions.Panicf("customvjp.Apply: build returned no outputs")
	}
	vs = make([]*Node, len(raw))
	ys := make([]*Node, len(raw))
	for k, y := range raw {
		ys[k] = IdentityWithCustomGradient(y, func(_, vy *Node) *Node {
			vs[k] = vy
			return vy
		})
	}
	return ys
}
