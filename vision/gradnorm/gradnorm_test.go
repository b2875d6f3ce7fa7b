package gradnorm

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// TestMeasureMatchesHandGradient: for logits = x·W, the cross-entropy gradient is xᵀ(softmax(xW) - y)/B.
func TestMeasureMatchesHandGradient(t *testing.T) {
	x := [][]float32{{1, 2}, {0, -1}, {3, 1}}
	y := []int32{0, 1, 1}
	w := [][]float32{{0.5, -0.2}, {0.1, 0.3}}
	store := model.NewStore()
	if _, err := store.RootScope().In("model").In("dense").CreateVariable("weights", tensors.FromValue(w)); err != nil {
		t.Fatal(err)
	}
	linear := func(scope *model.Scope, images *graph.Node) *graph.Node {
		wv := scope.In("dense").WithInitializer(initializer.Zero).VariableWithShape("weights", shapes.Make(dtypes.Float32, 2, 2))
		return graph.MatMul(images, wv.NodeValue(images.Graph()))
	}
	yt := tensors.FromFlatDataAndDimensions(y, 3, 1)
	layers, err := Measure(testutil.Backend(t), store, "model", linear, tensors.FromValue(x), yt)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 || layers[0].Name != "dense/weights" || layers[0].Depth != 1 {
		t.Fatalf("layers: %+v", layers)
	}
	// By hand.
	var grad [2][2]float64
	for i, row := range x {
		z0 := float64(row[0]*w[0][0] + row[1]*w[1][0])
		z1 := float64(row[0]*w[0][1] + row[1]*w[1][1])
		p0 := math.Exp(z0) / (math.Exp(z0) + math.Exp(z1))
		d := []float64{p0, 1 - p0}
		d[y[i]] -= 1
		for a := range 2 {
			for c := range 2 {
				grad[a][c] += float64(row[a]) * d[c] / 3
			}
		}
	}
	want := math.Sqrt(grad[0][0]*grad[0][0] + grad[0][1]*grad[0][1] + grad[1][0]*grad[1][0] + grad[1][1]*grad[1][1])
	// On a GPU the product x·W may round its inputs to TF32 (go-xla turns it on for float32 on CUDA).
	tol := testutil.Tol(testutil.Backend(t), 1e-5)
	if math.Abs(layers[0].Norm-want) > tol*math.Max(1, want) {
		t.Fatalf("gradient norm %v, want %v", layers[0].Norm, want)
	}
	wn := math.Sqrt(0.25 + 0.04 + 0.01 + 0.09)
	if math.Abs(layers[0].RelNorm-want/wn) > tol*math.Max(1, want/wn) {
		t.Fatalf("relative norm %v, want %v", layers[0].RelNorm, want/wn)
	}
	// The caller's store is untouched.
	if got := store.GetVariable("/model/dense/weights").MustValue().Value().([][]float32); got[0][0] != 0.5 {
		t.Fatalf("weights changed: %v", got)
	}
}

// TestDeepSigmoidVanishes: in a deep plain stack of sigmoid layers (σ' ≤ ¼), the first layer's gradient is far
// smaller than the last's — the effect chapter 3 shows on ResNets.
func TestDeepSigmoidVanishes(t *testing.T) {
	deep := func(scope *model.Scope, images *graph.Node) *graph.Node {
		x := graph.Reshape(images, images.Shape().Dimensions[0], -1)
		for i := range 12 {
			w := scope.In("layer%02d", i).WithInitializer(initializer.RandomNormalFn(scope, 0.25)).
				VariableWithShape("weights", shapes.Make(dtypes.Float32, x.Shape().Dimensions[1], 16))
			x = graph.Sigmoid(graph.MatMul(x, w.NodeValue(x.Graph())))
		}
		return x
	}
	images := tensors.FromFlatDataAndDimensions(make([]float32, 8*4*4*1), 8, 4, 4, 1)
	tensors.MustMutableFlatData(images, func(f []float32) {
		for i := range f {
			f[i] = float32(math.Sin(float64(i)))
		}
	})
	labels := tensors.FromFlatDataAndDimensions([]int32{0, 1, 2, 3, 4, 5, 6, 7}, 8, 1)
	layers, err := Measure(testutil.Backend(t), model.NewStore(), "model", deep, images, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 12 {
		t.Fatalf("want 12 layers, got %d", len(layers))
	}
	if layers[0].Norm*100 > layers[11].Norm {
		t.Fatalf("first layer %g should be far below the last %g", layers[0].Norm, layers[11].Norm)
	}
}
