package trainer

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
)

// ModelVariables reads the model's variables (those under /model: weights, batch-norm statistics) from
// the newest complete checkpoint of the run whose output folder is outDir, for starting another run from
// them (transfer learning; see recipe.Options.InitFrom). It returns the checkpoint's folder and the run's
// history as that checkpoint recorded it (its model and dataset). The optimizer's state, the global step
// and the metrics are left out: a new run starts those afresh.
func ModelVariables(outDir string) (vars map[string]*tensors.Tensor, ckpt string, h *History, err error) {
	dir := filepath.Join(outDir, "checkpoints")
	path, st, err := latest(dir)
	if err != nil {
		return nil, "", nil, err
	}
	if path == "" {
		return nil, "", nil, fmt.Errorf("no checkpoint in %s (a run writes one after every epoch when it has an output folder, Config.OutDir)", dir)
	}
	store := model.NewStore()
	if _, err := checkpoint.Load(store).Dir(path).Immediate().Done(); err != nil {
		return nil, "", nil, fmt.Errorf("loading checkpoint %s: %w", path, err)
	}
	vars = map[string]*tensors.Tensor{}
	for v := range store.IterVariables() {
		if !strings.HasPrefix(v.Path(), "/model/") {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return nil, "", nil, fmt.Errorf("checkpoint %s: variable %s: %w", path, v.Path(), err)
		}
		vars[v.Path()] = value
	}
	if len(vars) == 0 {
		return nil, "", nil, fmt.Errorf("checkpoint %s holds no model variables", path)
	}
	return vars, path, st.History, nil
}
