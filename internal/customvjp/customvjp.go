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

// Apply returns build(inputs)'s output y, whose gradient with respect to inputs[i] is grads[i](v) for v the
// gradient with respect to y. build receives stand-ins for the inputs (same values) and must use all of
// them; it must only use differentiable ops (its automatic gradient is built, then discarded).
func Apply(inputs []*Node, build func(inputs []*Node) (y *Node, grads []Grad)) *Node {
	if len(inputs) == 0 {
		exceptions.Panicf("customvjp.Apply: no inputs")
	}
	var v *Node
	var grads []Grad
	g := inputs[0].Graph()
	var tie *Node
	smallest := 0
	for i, x := range inputs {
		x := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
			if v == nil {
				exceptions.Panicf("customvjp: gradient requested for an input before the output's")
			}
			return grads[i](v)
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
	var y *Node
	y, grads = build(stand)
	if len(grads) != len(inputs) {
		exceptions.Panicf("customvjp.Apply: build returned %d gradient functions for %d inputs", len(grads), len(inputs))
	}
	return IdentityWithCustomGradient(y, func(_, vy *Node) *Node {
		v = vy
		return vy
	})
}
