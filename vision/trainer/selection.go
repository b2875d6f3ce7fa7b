package trainer

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
)

// Model selection on a validation split (Data.Val): after every epoch the trainer evaluates the split,
// and when its accuracy is the highest so far (strictly: the earliest of equal epochs wins) it keeps a
// copy of the model's variables (weights and batch-norm statistics, those under /model/). With an output
// folder the copy is also written, as a checkpoint, to OUT/selected/ckpt-EEEE-000000, so that a resumed
// run, or a later one that reopens the folder, finds the chosen weights. After the last epoch the trainer
// puts them back and evaluates the test set once (History.Selected).

// selectedDir is the folder under OutDir that holds the selected epoch's weights.
const selectedDir = "selected"

// selection is the best epoch on the validation split so far.
type selection struct {
	epoch    int // 1-based; 0: none yet
	acc      float64
	loss     float64
	vars     map[string]*tensors.Tensor // the epoch's /model/ variables, host copies (nil: only on disk)
	store    *model.Store               // the copy saved to OUT/selected
	saver    *saver
	fromDisk string // OUT/selected's checkpoint, when vars is nil (a resumed run)
}

// offer keeps rec's epoch if its validation accuracy beats the best so far.
func (s *selection) offer(t *Trainer, rec Epoch) error {
	if s.epoch > 0 && !(rec.ValAcc > s.acc) {
		return nil
	}
	vars := map[string]*tensors.Tensor{}
	for v := range t.store.IterVariables() {
		if !strings.HasPrefix(v.Path(), "/model/") {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		c, err := val.LocalClone()
		if err != nil {
			return fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		vars[v.Path()] = c
	}
	s.epoch, s.acc, s.loss, s.vars, s.fromDisk = rec.Epoch, rec.ValAcc, rec.ValLoss, vars, ""
	if t.cfg.OutDir == "" {
		return nil
	}
	if s.store == nil {
		s.store = model.NewStore()
	}
	for path, val := range vars {
		c, err := val.LocalClone()
		if err != nil {
			return err
		}
		if v := s.store.GetVariable(path); v != nil {
			if err := v.SetValue(c); err != nil {
				return err
			}
		} else if _, err := s.store.CreateVariable(path, c); err != nil {
			return err
		}
	}
	if s.saver == nil {
		sv, err := newSaver(s.store, filepath.Join(t.cfg.OutDir, selectedDir), 1)
		if err != nil {
			return err
		}
		s.saver = sv
	}
	h := *t.hist
	h.Epochs = append(append([]Epoch(nil), t.hist.Epochs...), rec)
	return s.saver.save(&state{EpochsDone: rec.Epoch, History: &h})
}

// resume finds the selection a run resumed from outDir had made (OUT/selected), if any.
func (s *selection) resume(outDir string) error {
	path, st, err := latest(filepath.Join(outDir, selectedDir))
	if err != nil || st == nil {
		return err
	}
	e := st.History.Epochs[st.EpochsDone-1]
	s.epoch, s.acc, s.loss, s.vars, s.fromDisk = e.Epoch, e.ValAcc, e.ValLoss, nil, path
	return nil
}

// UseSelected puts the weights of the epoch chosen on the validation split (Data.Val) into the model:
// Run does it after the last epoch, before it evaluates the test set; a run reopened afterwards (Resume,
// every epoch done) calls it to predict with those weights rather than the last epoch's. It returns the
// chosen epoch.
func (t *Trainer) UseSelected() (epoch int, err error) {
	if t.data.Val == nil {
		return 0, fmt.Errorf("the run has no validation split (Data.Val), so no epoch was selected")
	}
	if t.sel.epoch == 0 {
		return 0, fmt.Errorf("no epoch has been evaluated on the validation split yet (%d of %d done)", t.st.EpochsDone, t.cfg.Epochs)
	}
	vars := t.sel.vars
	if vars == nil {
		store := model.NewStore()
		if _, err := checkpoint.Load(store).Dir(t.sel.fromDisk).Immediate().Done(); err != nil {
			return 0, fmt.Errorf("loading the selected weights %s: %w", t.sel.fromDisk, err)
		}
		vars = map[string]*tensors.Tensor{}
		for v := range store.IterVariables() {
			if val, err := v.Value(); err == nil && strings.HasPrefix(v.Path(), "/model/") {
				vars[v.Path()] = val
			}
		}
	}
	for path, val := range vars {
		v := t.store.GetVariable(path)
		if v == nil {
			// A reopened run creates its variables only when a graph is built: create it with the value.
			if _, err := t.store.CreateVariable(path, val); err != nil {
				return 0, fmt.Errorf("selected weights: %s: %w", path, err)
			}
			continue
		}
		c, err := val.LocalClone()
		if err != nil {
			return 0, err
		}
		if err := v.SetValue(c); err != nil {
			return 0, fmt.Errorf("selected weights: %s: %w", path, err)
		}
	}
	return t.sel.epoch, nil
}

// testSelected puts the selected weights in place and evaluates the test set with them, once: the
// figures go to History.Selected (and the confusion matrix to History.Confusion), saved with the history.
func (t *Trainer) testSelected() error {
	epoch, err := t.UseSelected()
	if err != nil {
		return err
	}
	res, err := t.gt.Eval(t.data.Test)
	if err != nil {
		return fmt.Errorf("evaluating the selected epoch %d on the test set: %w", epoch, err)
	}
	loss, acc := t.evalFigures(res)
	t.hist.Selected = &Selection{Epoch: epoch, ValLoss: t.sel.loss, ValAcc: t.sel.acc, TestLoss: loss, TestAcc: acc}
	t.hist.Confusion = t.conf.read(t.store)
	if math.IsNaN(acc) {
		return fmt.Errorf("the test accuracy of the selected epoch %d is NaN", epoch)
	}
	if t.cfg.OutDir != "" {
		if err := t.hist.Save(t.cfg.OutDir); err != nil {
			return err
		}
	}
	return nil
}
