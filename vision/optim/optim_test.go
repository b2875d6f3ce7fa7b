package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// steps runs n optimizer steps on loss = ½·Σw² (so the gradient is w), from w0, and returns w after each
// step and the learning rate each step used.
func steps(t *testing.T, c Config, w0 []float32, n int) (ws [][]float32, lrs []float64) {
	t.Helper()
	opt, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	w := store.RootScope().In("layer").VariableWithValue("w", w0)
	exec := model.MustNewExec(testutil.Backend(t), store, func(scope *model.Scope, g *graph.Graph) *graph.Node {
		scope.SetTraining(g, true) // before any variable is read: this graph updates them
		wn := w.NodeValue(g)
		loss := graph.MulScalar(graph.ReduceAllSum(graph.Square(wn)), 0.5)
		opt.UpdateGraph(scope, g, loss)
		return optimizer.LearningRateVar(scope, dtypes.Float32, c.LR).NodeValue(g)
	})
	for range n {
		out := exec.MustCall()
		lrs = append(lrs, float64(out[0].Value().(float32)))
		ws = append(ws, append([]float32(nil), w.MustValue().Value().([]float32)...))
	}
	return ws, lrs
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(b)) }

func TestSGDMomentumMatchesPyTorch(t *testing.T) {
	// torch.optim.SGD(lr=0.1, momentum=0.9): v1=g1=w0, w1=0.9w0; v2=0.9w0+0.9w0=1.8w0, w2=0.9w0-0.18w0=0.72w0.
	ws, _ := steps(t, Config{Name: "sgd", LR: 0.1, Momentum: 0.9}, []float32{1, -2}, 2)
	want := [][]float64{{0.9, -1.8}, {0.72, -1.44}}
	for s := range want {
		for i := range want[s] {
			if !near(float64(ws[s][i]), want[s][i]) {
				t.Fatalf("step %d: w=%v, want %v", s+1, ws[s], want[s])
			}
		}
	}
}

func TestSGDWeightDecayAndNesterov(t *testing.T) {
	// Weight decay 0.5 doubles as extra gradient: g = w + 0.5w = 1.5w; plain SGD lr 0.1 → w1 = 0.85 w0.
	ws, _ := steps(t, Config{Name: "sgd", LR: 0.1, WeightDecay: 0.5}, []float32{2}, 1)
	if !near(float64(ws[0][0]), 1.7) {
		t.Fatalf("weight decay: %v", ws)
	}
	// Nesterov, μ=0.9: v1=g=w0, step = g + μ·v1 = 1.9w0, w1 = w0 - 0.19w0 = 0.81 w0.
	ws, _ = steps(t, Config{Name: "sgd", LR: 0.1, Momentum: 0.9, Nesterov: true}, []float32{1}, 1)
	if !near(float64(ws[0][0]), 0.81) {
		t.Fatalf("nesterov: %v", ws)
	}
}

func TestScheduleInGraphMatchesHost(t *testing.T) {
	for _, s := range Schedules {
		c := Config{Name: "sgd", LR: 0.4, Schedule: s, TotalSteps: 10, WarmupSteps: 2}
		_, lrs := steps(t, c, []float32{1}, 10)
		for i, lr := range lrs {
			want := c.LR * s.Factor(i, c.TotalSteps, c.WarmupSteps)
			if !near(lr, want) {
				t.Errorf("%s step %d: lr %v, want %v", s, i, lr, want)
			}
		}
	}
}

func TestScheduleShapes(t *testing.T) {
	if f := Cosine.Factor(0, 100, 0); !near(f, 1) {
		t.Errorf("cosine starts at 1: %v", f)
	}
	if f := Cosine.Factor(50, 100, 0); !near(f, 0.5) {
		t.Errorf("cosine halfway: %v", f)
	}
	if f := Cosine.Factor(99, 100, 0); f > 0.01 {
		t.Errorf("cosine ends near 0: %v", f)
	}
	if f := OneCycle.Factor(0, 100, 0); !near(f, 1.0/25) {
		t.Errorf("one-cycle starts at 1/25: %v", f)
	}
	if f := OneCycle.Factor(30, 100, 0); !near(f, 1) {
		t.Errorf("one-cycle peaks at 30%%: %v", f)
	}
	if f := OneCycle.Factor(100, 100, 0); f > 1e-5 {
		t.Errorf("one-cycle ends near 0: %v", f)
	}
}

func TestAdamScheduled(t *testing.T) {
	ws, lrs := steps(t, Config{Name: "adam", LR: 0.01, Schedule: Cosine, TotalSteps: 4}, []float32{1}, 4)
	// Adam's first step moves by ≈ lr regardless of the gradient's scale.
	if d := 1 - float64(ws[0][0]); !near(d, 0.01) {
		t.Errorf("adam first step moved %v, want ≈0.01", d)
	}
	if !near(lrs[2], 0.01*Cosine.Factor(2, 4, 0)) {
		t.Errorf("adam lr not scheduled: %v", lrs)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, c := range []Config{
		{Name: "sgd", LR: 0}, {Name: "sgd", LR: math.NaN()}, {Name: "sgd", LR: 0.1, Momentum: 1},
		{Name: "rmsprop", LR: 0.1}, {Name: "sgd", LR: 0.1, Schedule: "linear"}, {Name: "sgd", LR: 0.1, WeightDecay: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

// TestUpdateNeedsTrainingGraph: an optimizer update built in a graph not marked as training is refused
// (on the pure-Go backend its variables would be frozen as constants).
func TestUpdateNeedsTrainingGraph(t *testing.T) {
	opt, err := New(Config{Name: "sgd", LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	w := store.RootScope().In("layer").VariableWithValue("w", []float32{1})
	exec := model.MustNewExec(testutil.Backend(t), store, func(scope *model.Scope, g *graph.Graph) *graph.Node {
		loss := graph.ReduceAllSum(graph.Square(w.NodeValue(g)))
		opt.UpdateGraph(scope, g, loss)
		return loss
	})
	if _, err := exec.Exec(); err == nil || !strings.Contains(err.Error(), "training graph") {
		t.Fatalf("want an error about the training graph, got %v", err)
	}
}

// TestScalesPerVariable: a scale multiplies the step of the variables under its prefix only, as
// torch.optim's parameter groups with their own "lr": plain SGD lr 0.1 on loss ½Σw² (gradient w) gives
// w1 = 0.9·w0, and with the scale ×5 w1 = 0.5·w0.
func TestScalesPerVariable(t *testing.T) {
	opt, err := New(Config{Name: "sgd", LR: 0.1, Scales: []Scale{{Prefix: "/head/", Factor: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	head := store.RootScope().In("head").VariableWithValue("w", []float32{2})
	body := store.RootScope().In("body").VariableWithValue("w", []float32{2})
	exec := model.MustNewExec(testutil.Backend(t), store, func(scope *model.Scope, g *graph.Graph) *graph.Node {
		scope.SetTraining(g, true)
		loss := graph.MulScalar(graph.Add(graph.ReduceAllSum(graph.Square(head.NodeValue(g))), graph.ReduceAllSum(graph.Square(body.NodeValue(g)))), 0.5)
		opt.UpdateGraph(scope, g, loss)
		return loss
	})
	exec.MustCall()
	h, b := head.MustValue().Value().([]float32)[0], body.MustValue().Value().([]float32)[0]
	if !near(float64(h), 1) || !near(float64(b), 1.8) {
		t.Fatalf("after one step: head w = %v (want 1: lr 0.1×5), body w = %v (want 1.8: lr 0.1)", h, b)
	}
	for _, c := range []Config{
		{Name: "adam", LR: 0.1, Scales: []Scale{{"/head/", 10}}},
		{Name: "sgd", LR: 0.1, Scales: []Scale{{"/head/", 0}}},
		{Name: "sgd", LR: 0.1, Scales: []Scale{{"", 2}}},
	} {
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "scale") {
			t.Errorf("New(%+v): error %v, want one naming the scale", c, err)
		}
	}
}
