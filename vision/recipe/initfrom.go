package recipe

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// Transfer learning from one of your own runs (Options.InitFrom): the new run starts from the weights of
// the newest checkpoint of another run — a network trained on a large source dataset — with a new
// classifier for its own classes. It is what fine-tuning an ImageNet model does (Options.Pretrained), with
// a source task you trained yourself.

// headPrefix is the scope of the classifier, which a run started from another's weights replaces.
const headPrefix = "/model/head/"

// initSource holds the weights a run starts from.
type initSource struct {
	ckpt  string // the checkpoint folder
	model string // the source run's model, as its history names it
	vars  map[string]*tensors.Tensor
}

// loadInitFrom reads the newest checkpoint of the run folder o.InitFrom and checks that its variables
// fit the model mb builds for h×w×c images: the same variables, the classifier aside, with the same
// shapes. Errors name Options.InitFrom and the folder; a mismatch names the first variable that differs.
func loadInitFrom(b compute.Backend, o Options, mb *resnet.Builder, h, w, c int) (*initSource, error) {
	vars, ckpt, hist, err := trainer.ModelVariables(o.InitFrom)
	if err != nil {
		return nil, fmt.Errorf("Options.InitFrom %s: %w", o.InitFrom, err)
	}
	want, err := variableShapes(b, mb, h, w, c)
	if err != nil {
		return nil, fmt.Errorf("Options.InitFrom %s: %w", o.InitFrom, err)
	}
	var diffs []string
	for _, path := range slices.Sorted(maps.Keys(want)) {
		if strings.HasPrefix(path, headPrefix) {
			continue
		}
		got, ok := vars[path]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s is missing from it", path))
		case !got.Shape().Equal(want[path]):
			diffs = append(diffs, fmt.Sprintf("%s is %s there, %s here", path, got.Shape(), want[path]))
		}
	}
	for _, path := range slices.Sorted(maps.Keys(vars)) {
		if _, ok := want[path]; !ok && !strings.HasPrefix(path, headPrefix) {
			diffs = append(diffs, fmt.Sprintf("%s is in it but not in this run's model", path))
		}
	}
	if len(diffs) > 0 {
		more := ""
		if len(diffs) > 1 {
			more = fmt.Sprintf(" (and %d more difference(s))", len(diffs)-1)
		}
		return nil, fmt.Errorf("Options.InitFrom %s: its checkpoint %s holds a %s, which does not fit this run's %s on %s's %d×%d×%d images: "+
			"%s%s; give Options.Model, Options.Width and Options.Plain as the source run had them, and images with as many channels",
			o.InitFrom, ckpt, hist.Model, modelName(o), imagesOf(o), h, w, c, diffs[0], more)
	}
	src := &initSource{ckpt: ckpt, model: hist.Model, vars: map[string]*tensors.Tensor{}}
	for path, v := range vars {
		if !strings.HasPrefix(path, headPrefix) {
			src.vars[path] = v
		}
	}
	return src, nil
}

// variableShapes builds (without running) the model's graph on one h×w×c image in a scratch store and
// returns the shape of every variable it creates, by full path.
func variableShapes(b compute.Backend, mb *resnet.Builder, h, w, c int) (map[string]shapes.Shape, error) {
	store := model.NewStore()
	g := graph.NewGraph(b, "init-from-shapes")
	defer g.Finalize()
	if e := exceptions.Try(func() {
		store.SetTraining(g, true) // variables as parameters: nothing is initialised or computed
		x := graph.Parameter(g, "images", shapes.Make(dtypes.Float32, 1, h, w, c))
		mb.Build(store.Scope("/model"), x)
	}); e != nil {
		return nil, fmt.Errorf("building the model to check its variables: %v", e)
	}
	out := map[string]shapes.Shape{}
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), "/model/") {
			out[v.Path()] = v.Shape()
		}
	}
	return out, nil
}

// apply puts the source's weights into the run's store (under /model); the classifier keeps the random
// initialisation the model gives it when first built.
func (s *initSource) apply(store *model.Store) error {
	for _, path := range slices.Sorted(maps.Keys(s.vars)) {
		value := s.vars[path]
		if v := store.GetVariable(path); v != nil {
			if err := v.SetValue(value); err != nil {
				return fmt.Errorf("Options.InitFrom: setting %s from %s: %w", path, s.ckpt, err)
			}
			continue
		}
		if _, err := store.CreateVariable(path, value); err != nil {
			return fmt.Errorf("Options.InitFrom: creating %s from %s: %w", path, s.ckpt, err)
		}
	}
	return nil
}

// sameFolder reports whether two paths name the same folder (after cleaning, made absolute).
func sameFolder(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
