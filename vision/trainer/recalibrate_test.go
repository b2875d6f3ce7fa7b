package trainer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// withBatchNorm is linear with a batch norm before the classifier.
func withBatchNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
	x = norm.BatchNorm(scope.In("bn"), x, -1).UseBackendInference(false).Done()
	return layers.Dense(scope.In("dense"), x, true, 3)
}

// bnAverages reads every batch-norm average of the store, by path.
func bnAverages(store *model.Store) map[string][]float32 {
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		if strings.Contains(v.Path(), "/bn/") && !v.Trainable {
			out[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	return out
}

// TestRecalibrateOnceCompiled: the trainer's re-estimation of the batch-norm averages gives GoMLX's
// figures (norm.UpdateBatchNormAverages, over the same batches), and compiles its two graphs once: a
// second re-estimation reuses them.
func TestRecalibrateOnceCompiled(t *testing.T) {
	cfg := testConfig("", 1)
	cfg.RecalibrateBN = 3
	tr, err := New(testutil.Choice(t), cfg, withBatchNorm, testData())
	if err != nil {
		t.Fatal(err)
	}
	tr.Log, tr.Progress = &bytes.Buffer{}, NoProgress{}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	execs := tr.bnExecs
	if execs[0] == nil || execs[1] == nil {
		t.Fatal("the run did not re-estimate the batch-norm averages")
	}
	if err := tr.recalibrateBN(); err != nil {
		t.Fatal(err)
	}
	if tr.bnExecs != execs {
		t.Error("the second re-estimation built new graphs")
	}
	ours := bnAverages(tr.store)
	if _, err := norm.UpdateBatchNormAverages(tr.gt, &firstBatches{src: tr.data.Train, n: cfg.RecalibrateBN}); err != nil {
		t.Fatal(err)
	}
	gomlx := bnAverages(tr.store)
	if len(ours) < 3 {
		t.Fatalf("batch-norm averages found: %v", ours)
	}
	for path, want := range gomlx {
		if fmt.Sprint(ours[path]) != fmt.Sprint(want) {
			t.Errorf("%s: ours %v, GoMLX's %v", path, ours[path], want)
		}
	}
}
