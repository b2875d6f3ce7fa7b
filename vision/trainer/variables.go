package trainer

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// variablesAsParameters makes every variable of store that has a value a parameter of graph g, also when g
// is not a training graph (evaluation, batch-norm re-estimation). Call it before the model is built.
//
// Why: a backend that prefers constants for variables (the pure-Go backend since compute v0.1.x) makes
// GoMLX embed, in any graph not marked as training, the value each variable has when the graph is built —
// and the compiled graph is kept and reused. GoMLX's trainer builds its evaluation and batch-norm graphs
// that way, so on that backend an evaluation compiled after epoch 1 would score epoch 1's weights forever,
// and the metrics it accumulates over batches (loss, accuracy, confusion counts) would restart from the
// value they had at compile time at every batch. GoMLX decides constant-or-parameter once per graph and
// variable, at first use: so each variable gets its parameter node while g is briefly marked as training,
// and the model is then built in inference mode as before (batch norm uses its moving averages). The metric
// variables exist by then too: GoMLX resets (creates) them before it builds an evaluation graph.
//
// Training graphs, and backends that take variables as parameters anyway (XLA), are left as they were.
func variablesAsParameters(store *model.Store, g *graph.Graph) {
	if store.IsTraining(g) || !g.Backend().Capabilities().PreferConstantsForVariables {
		return
	}
	store.SetTraining(g, true)
	for v := range store.IterVariables() {
		if v.HasValue() {
			v.NodeValue(g)
		}
	}
	store.SetTraining(g, false)
}
