package recipe

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Predict classifies every test image (r.Test, in order) with the model as it stands in the trainer —
// after Trainer.Run, the trained one — and returns the predicted class of each: for pictures of what a
// model gets right and wrong. The batch norms use their averages, as in the trainer's evaluation.
func (r *Run) Predict() ([]int, error) {
	exec, err := model.NewExec(r.Platform.Backend, r.Trainer.Store(), func(scope *model.Scope, x *graph.Node) *graph.Node {
		return graph.ArgMax(r.Model.Build(scope.In("model"), x), -1)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	out := make([]int, 0, r.Test.N)
	for b, err := range r.TestLoader.Iter() {
		if err != nil {
			return nil, err
		}
		res, err := exec.Exec(b.Inputs[0])
		if err != nil {
			return nil, fmt.Errorf("predicting the test images: %w", err)
		}
		for _, c := range tensors.MustCopyFlatData[int32](res[0]) {
			out = append(out, int(c))
		}
	}
	if len(out) != r.Test.N {
		return nil, fmt.Errorf("predicted %d of the %d test images", len(out), r.Test.N)
	}
	return out, nil
}
