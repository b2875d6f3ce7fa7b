package conv

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestLayer(t *testing.T) {
	b := goBackend(t)
	store := model.NewStore()
	x := randTensor(rand.New(rand.NewPCG(5, 6)), 2, 8, 8, 32)
	y, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node {
		a := New(scope.In("a"), x, 64).Kernel(3).Stride(2).NoBias().Done()
		return New(scope.In("b"), a, 8).Kernel(1).Done()
	}, x)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if got, want := y.Shape().Dimensions, []int{2, 4, 4, 8}; !slices.Equal(got, want) {
		t.Errorf("output dims %v, want %v", got, want)
	}
	weights := store.GetVariable("/a/" + WeightsName)
	if weights == nil {
		t.Fatalf("no variable /a/%s; variables: %v", WeightsName, variableNames(store))
	}
	if got, want := weights.Shape().Dimensions, []int{3, 3, 32, 64}; !slices.Equal(got, want) {
		t.Errorf("/a/weights dims %v, want %v", got, want)
	}
	if store.GetVariable("/a/"+BiasesName) != nil {
		t.Errorf("NoBias layer has a bias variable")
	}
	bias := store.GetVariable("/b/" + BiasesName)
	if bias == nil || bias.Shape().Size() != 8 {
		t.Fatalf("layer b should have an [8] bias; variables: %v", variableNames(store))
	}
	for _, v := range tensors.MustCopyFlatData[float32](bias.MustValue()) {
		if v != 0 {
			t.Errorf("bias not initialized to zero: %v", v)
			break
		}
	}
	// He-normal: std = sqrt(2 / (3*3*32)) = 0.0833.
	w := tensors.MustCopyFlatData[float32](weights.MustValue())
	var sum, sum2 float64
	for _, v := range w {
		sum += float64(v)
		sum2 += float64(v) * float64(v)
	}
	n := float64(len(w))
	mean, std := sum/n, math.Sqrt(sum2/n-(sum/n)*(sum/n))
	if want := math.Sqrt(2.0 / (3 * 3 * 32)); math.Abs(std-want) > 0.05*want || math.Abs(mean) > 0.05*want {
		t.Errorf("weights mean %.4f std %.4f, want He-normal mean 0 std %.4f", mean, std, want)
	}
}

func variableNames(store *model.Store) []string {
	var names []string
	for v := range store.IterVariables() {
		names = append(names, v.Path())
	}
	return names
}

// TestLayerBFloat16: with ComputeDType(BFloat16) the weights stay float32, the output is float32, the
// values agree with the float32 convolution to bf16 precision, and gradients reach the weights.
func TestLayerBFloat16(t *testing.T) {
	b := goBackend(t)
	x := randTensor(rand.New(rand.NewPCG(7, 8)), 2, 6, 6, 8)
	store := model.NewStore()
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		full := New(scope.In("c"), x, 4).NoBias().Done()
		half := New(scope.Shared("c"), x, 4).NoBias().ComputeDType(dtypes.BFloat16).Done() // same weights
		w := store.GetVariable("/c/" + WeightsName).NodeValue(x.Graph())
		grad := Gradient(ReduceAllSum(half), w)[0]
		return []*Node{full, half, grad}
	}, x)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if outs[1].DType() != dtypes.Float32 || outs[2].DType() != dtypes.Float32 {
		t.Fatalf("dtypes: output %s, gradient %s; want float32", outs[1].DType(), outs[2].DType())
	}
	if w := store.GetVariable("/c/" + WeightsName); w.Shape().DType != dtypes.Float32 {
		t.Fatalf("weights are %s, want float32 master weights", w.Shape().DType)
	}
	full, half := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	var maxDiff, maxAbs float64
	for i := range full {
		maxDiff = math.Max(maxDiff, math.Abs(float64(full[i]-half[i])))
		maxAbs = math.Max(maxAbs, math.Abs(float64(full[i])))
	}
	if maxDiff > 0.03*maxAbs || maxDiff == 0 {
		t.Errorf("bf16 result differs by %g (max |y| %g): want a small, nonzero rounding difference", maxDiff, maxAbs)
	}
	var gsum float64
	for _, g := range tensors.MustCopyFlatData[float32](outs[2]) {
		gsum += math.Abs(float64(g))
	}
	if gsum == 0 {
		t.Errorf("no gradient reached the weights through the bf16 convolution")
	}
}
