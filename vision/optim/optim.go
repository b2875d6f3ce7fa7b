// Package optim holds the optimizers and learning-rate schedules the course trains with: SGD with
// momentum and weight decay (PyTorch's torch.optim.SGD, which GoMLX's plain SGD lacks), Adam (GoMLX's),
// and constant, cosine and one-cycle schedules.
//
// Schedules are computed inside the training graph from GoMLX's global step, not on the host: setting a
// learning rate from Go before every step would cost a host-to-device transfer and a synchronisation per
// step, which is exactly what a GPU training loop must avoid. The scheduled value is also written back to
// the learning-rate variable, so the host can read the current rate whenever it wants (for the history).
package optim

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// Schedule names a learning-rate schedule.
type Schedule string

const (
	Constant Schedule = "constant"
	// Cosine decays from the base rate to 0 along half a cosine over the whole run, after a linear warm-up.
	Cosine Schedule = "cosine"
	// OneCycle rises linearly from base/25 to base over the first 30% of the run, then anneals to
	// base/25e4 along a cosine (Smith & Topin's one-cycle policy, as PyTorch's OneCycleLR does it).
	OneCycle Schedule = "onecycle"
)

// Schedules lists the valid schedule names.
var Schedules = []Schedule{Constant, Cosine, OneCycle}

// ParseSchedule validates a schedule name.
func ParseSchedule(s string) (Schedule, error) {
	for _, v := range Schedules {
		if string(v) == strings.ToLower(s) {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown schedule %q: want one of %v", s, Schedules)
}

// Factor returns the multiplier of the base learning rate at step (0-based) of totalSteps, computed on
// the host: the same formula the graph uses, for tests, plots and the history.
func (s Schedule) Factor(step, totalSteps, warmupSteps int) float64 {
	if totalSteps <= 0 {
		return 1
	}
	t := float64(step) / float64(totalSteps)
	switch s {
	case Cosine:
		if warmupSteps > 0 && step < warmupSteps {
			return float64(step+1) / float64(warmupSteps)
		}
		return 0.5 * (1 + math.Cos(math.Pi*math.Min(t, 1)))
	case OneCycle:
		const pct, div, finalDiv = 0.3, 25.0, 1e4
		if t < pct {
			return 1/div + (1-1/div)*t/pct
		}
		u := math.Min((t-pct)/(1-pct), 1)
		lo := 1 / (div * finalDiv)
		return lo + (1-lo)*0.5*(1+math.Cos(math.Pi*u))
	}
	return 1
}

// factorGraph is Factor on graph nodes: step is the 0-based step as a float node.
func (s Schedule) factorGraph(step *graph.Node, totalSteps, warmupSteps int) *graph.Node {
	g := step.Graph()
	dt := step.DType()
	c := func(v float64) *graph.Node { return graph.Scalar(g, dt, v) }
	if totalSteps <= 0 || s == Constant || s == "" {
		return c(1)
	}
	t := graph.Div(step, c(float64(totalSteps)))
	switch s {
	case Cosine:
		cos := graph.MulScalar(graph.OnePlus(graph.Cos(graph.MulScalar(graph.Min(t, c(1)), math.Pi))), 0.5)
		if warmupSteps <= 0 {
			return cos
		}
		warm := graph.Div(graph.OnePlus(step), c(float64(warmupSteps)))
		return graph.Where(graph.LessThan(step, c(float64(warmupSteps))), warm, cos)
	case OneCycle:
		const pct, div, finalDiv = 0.3, 25.0, 1e4
		up := graph.Add(c(1/div), graph.MulScalar(t, (1-1/div)/pct))
		u := graph.Min(graph.DivScalar(graph.Sub(t, c(pct)), 1-pct), c(1))
		lo := 1 / (div * finalDiv)
		down := graph.Add(c(lo), graph.MulScalar(graph.OnePlus(graph.Cos(graph.MulScalar(u, math.Pi))), (1-lo)*0.5))
		return graph.Where(graph.LessThan(t, c(pct)), up, down)
	}
	return c(1)
}

// Config describes an optimizer and its schedule.
type Config struct {
	// Name is "sgd" or "adam".
	Name string
	// LR is the base (peak) learning rate.
	LR float64
	// Momentum for SGD (PyTorch's convention: v ← μv + g; w ← w − lr·v). 0 disables it.
	Momentum float64
	// Nesterov momentum for SGD.
	Nesterov bool
	// WeightDecay is L2 decay added to the gradients (SGD) or decoupled decay (Adam, i.e. AdamW).
	WeightDecay float64
	// Schedule of the learning rate over TotalSteps (with WarmupSteps of linear warm-up for cosine).
	Schedule    Schedule
	TotalSteps  int
	WarmupSteps int
	// Scales multiply the learning rate of some variables (SGD only): the first whose Prefix begins a
	// variable's path applies, e.g. {"/model/head/", 10} for a new classifier on pretrained weights.
	Scales []Scale
}

// Scale multiplies the learning rate of the variables whose path (e.g. "/model/head/dense/weights")
// starts with Prefix by Factor: a parameter group, as torch.optim's per-group "lr".
type Scale struct {
	Prefix string  `json:"prefix"`
	Factor float64 `json:"factor"`
}

// factor returns the learning-rate multiplier of the variable at path.
func (c *Config) factor(path string) float64 {
	for _, s := range c.Scales {
		if strings.HasPrefix(path, s.Prefix) {
			return s.Factor
		}
	}
	return 1
}

// Names lists the valid optimizer names.
var Names = []string{"sgd", "adam"}

// New returns the optimizer for a config, or an error naming a bad value.
func New(c Config) (optimizer.Interface, error) {
	if c.LR <= 0 || math.IsNaN(c.LR) || math.IsInf(c.LR, 0) {
		return nil, fmt.Errorf("learning rate must be a positive number, got %v", c.LR)
	}
	if c.Momentum < 0 || c.Momentum >= 1 {
		return nil, fmt.Errorf("momentum must be in [0, 1), got %v", c.Momentum)
	}
	if c.WeightDecay < 0 {
		return nil, fmt.Errorf("weight decay must be ≥ 0, got %v", c.WeightDecay)
	}
	for _, s := range c.Scales {
		if s.Prefix == "" || !(s.Factor > 0) || math.IsInf(s.Factor, 0) {
			return nil, fmt.Errorf("learning-rate scale %q ×%v: want a variable path prefix and a finite factor > 0", s.Prefix, s.Factor)
		}
	}
	if len(c.Scales) > 0 && strings.ToLower(c.Name) != "sgd" {
		return nil, fmt.Errorf("per-variable learning-rate scales (%q ×%v) need the sgd optimizer, got %q", c.Scales[0].Prefix, c.Scales[0].Factor, c.Name)
	}
	if c.Schedule == "" {
		c.Schedule = Constant
	}
	if _, err := ParseSchedule(string(c.Schedule)); err != nil {
		return nil, err
	}
	switch strings.ToLower(c.Name) {
	case "sgd":
		return &sgd{c}, nil
	case "adam", "adamw":
		adam := optimizer.Adam().LearningRate(c.LR)
		if c.WeightDecay > 0 {
			adam = adam.WeightDecay(c.WeightDecay)
		}
		return &scheduled{inner: adam.Done(), c: c}, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q: want one of %v", c.Name, Names)
}

// learningRate sets the learning-rate variable to its scheduled value for this step and returns it.
// It must run before the global step is incremented (so the first step is step 0).
//
// It panics when g is not marked as training: the optimizer updates variables, and on a backend that
// prefers constants for variables (the pure-Go one) GoMLX would otherwise embed their values (step count,
// learning rate, momentum) in the compiled graph, which then repeats its first step forever.
func learningRate(scope *model.Scope, g *graph.Graph, dtype dtypes.DType, c Config) *graph.Node {
	if !scope.IsTraining(g) {
		panic(errors.New("optim: the optimizer's update must be built in a training graph: call scope.SetTraining(g, true) before the graph reads any variable"))
	}
	lrVar := optimizer.LearningRateVar(scope, dtype, c.LR)
	step := graph.ConvertDType(optimizer.GetGlobalStepVar(scope).NodeValue(g), dtype)
	lr := graph.MulScalar(c.Schedule.factorGraph(step, c.TotalSteps, c.WarmupSteps), c.LR)
	lrVar.SetNodeValue(lr)
	return lr
}

// scheduled wraps an optimizer that reads GoMLX's learning-rate variable (Adam) with a schedule.
type scheduled struct {
	inner optimizer.Interface
	c     Config
}

func (s *scheduled) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	learningRate(scope, g, loss.DType(), s.c)
	s.inner.UpdateGraph(scope, g, loss)
}

func (s *scheduled) Clear(scope *model.Scope) error { return s.inner.Clear(scope) }

// sgd is SGD with momentum, Nesterov and L2 weight decay, as torch.optim.SGD computes it.
type sgd struct{ c Config }

const sgdScope = "sgd"

func (o *sgd) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	if !loss.Shape().IsScalar() {
		panic(fmt.Sprintf("optim: the loss must be a scalar, got %s", loss.Shape()))
	}
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	dtype := loss.DType()
	lr := learningRate(scope, g, dtype, o.c)
	_ = optimizer.IncrementGlobalStep(g, dtype)
	i := 0
	for v := range scope.IterVariables() {
		if !v.Trainable || !v.InUseByGraph(g) {
			continue
		}
		if i >= len(grads) {
			panic("optim: more trainable variables than gradients: were variables created during the update?")
		}
		w := v.NodeValue(g)
		grad := grads[i]
		i++
		if grad.DType() != w.DType() {
			grad = graph.ConvertDType(grad, w.DType())
		}
		if o.c.WeightDecay > 0 {
			grad = graph.Add(grad, graph.MulScalar(w, o.c.WeightDecay))
		}
		step := grad
		if o.c.Momentum > 0 {
			vel := scope.Store().Scope(path.Join("/", optimizer.Scope, sgdScope, v.Scope())).
				WithInitializer(initializer.Zero).
				VariableWithShape(v.Name()+"_velocity", shapes.Make(w.DType(), w.Shape().Dimensions...)).
				SetTrainable(false)
			newVel := graph.Add(graph.MulScalar(vel.NodeValue(g), o.c.Momentum), grad)
			vel.SetNodeValue(newVel)
			step = newVel
			if o.c.Nesterov {
				step = graph.Add(grad, graph.MulScalar(newVel, o.c.Momentum))
			}
		}
		lrW := lr
		if f := o.c.factor(v.Path()); f != 1 {
			lrW = graph.MulScalar(lrW, f)
		}
		if lrW.DType() != w.DType() {
			lrW = graph.ConvertDType(lr, w.DType())
		}
		v.SetNodeValue(graph.Sub(w, graph.Mul(step, lrW)))
	}
	if i != len(grads) {
		panic(fmt.Sprintf("optim: %d gradients for %d trainable variables", len(grads), i))
	}
}

func (o *sgd) Clear(scope *model.Scope) error {
	return scope.Store().Scope(path.Join("/", optimizer.Scope, sgdScope)).DeleteVariablesInScope()
}
