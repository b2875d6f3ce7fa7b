// Package gradnorm measures how large the gradient is at each layer of a network: the quantity that
// vanishes with depth in a plain deep network and stays healthy in its residual twin.
//
// For one batch it builds the loss, asks GoMLX for the gradient of the loss with respect to every weight
// matrix and convolution kernel, and returns their norms ‖∂L/∂W‖ layer by layer, in the order the layers
// were created (input to output). Batch norm's scale and offset and the biases are left out: they are
// not where the signal has to travel through.
package gradnorm

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/gonbgpu/gonbgpu/internal/tensorutil"
)

// Layer is one layer's gradient norm.
type Layer struct {
	// Name is the weight variable's path without the leading model scope, e.g. "stage1/block0/conv1/weights".
	Name string
	// Depth is the layer's position, 1 for the first.
	Depth int
	// Norm is the Frobenius norm of the loss gradient with respect to the weights.
	Norm float64
	// RelNorm is Norm divided by the norm of the weights themselves, which compares layers of different sizes.
	RelNorm float64
}

// ModelFn is a classifier: images in, logits out, variables created under scope.
type ModelFn func(scope *model.Scope, images *graph.Node) *graph.Node

// Measure computes the per-layer gradient norms of the mean cross-entropy loss of modelFn on one batch
// (images [B,H,W,C] float32, labels [B,1] int32), with the variables in store — new ones are initialised
// (the network at initialisation), existing ones are used as they are (after training). The model runs
// in training mode, as during a training step. It works on a copy of the store: the caller's variables
// (batch-norm statistics included) are never changed.
func Measure(b compute.Backend, store *model.Store, scopeName string, modelFn ModelFn, images, labels *tensors.Tensor) ([]Layer, error) {
	store, err := store.Clone()
	if err != nil {
		return nil, fmt.Errorf("gradient norms: copying the model's variables: %w", err)
	}
	var names []string
	exec, err := model.NewExec(b, store, func(scope *model.Scope, x, y *graph.Node) []*graph.Node {
		g := x.Graph()
		store.SetTraining(g, true)
		logits := modelFn(scope.In("%s", scopeName), x)
		l := graph.ReduceAllMean(loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{logits}))
		var weights []*model.Variable
		for v := range store.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) && v.Shape().Rank() >= 2 && strings.HasPrefix(v.Scope(), "/"+scopeName) {
				weights = append(weights, v)
			}
		}
		nodes := make([]*graph.Node, len(weights))
		for i, v := range weights {
			nodes[i] = v.NodeValue(g)
		}
		grads := graph.Gradient(l, nodes...)
		names = names[:0]
		var outs []*graph.Node
		for i, v := range weights {
			names = append(names, strings.TrimPrefix(strings.TrimPrefix(v.Path(), "/"+scopeName), "/"))
			outs = append(outs, norm(grads[i]), norm(nodes[i]))
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	outs, err := exec.Exec(images, labels)
	if err != nil {
		return nil, fmt.Errorf("gradient norms: %w", err)
	}
	layers := make([]Layer, len(names))
	for i := range names {
		g, w := tensorutil.Float64(outs[2*i]), tensorutil.Float64(outs[2*i+1])
		layers[i] = Layer{Name: names[i], Depth: i + 1, Norm: g}
		if w > 0 {
			layers[i].RelNorm = g / w
		}
	}
	return layers, nil
}

func norm(x *graph.Node) *graph.Node {
	return graph.Sqrt(graph.ReduceAllSum(graph.Square(x)))
}
