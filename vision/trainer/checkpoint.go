package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gonbgpu/gonbgpu/internal/fsutil"
)

// A checkpoint is a folder under OUT/checkpoints named ckpt-EEEE-BBBBBB: EEEE epochs done and BBBBBB
// batches into the next one (0 at an epoch boundary). It holds GoMLX's checkpoint files (every variable
// of the store: weights, batch-norm statistics, optimizer moments, the global step, the running training
// metrics) and state.json (where the run stands, and its history so far).
//
// A checkpoint is written into a staging folder and renamed into place only when complete, so a folder
// with a final name is always whole: a run killed while saving loses only that save.

var ckptRe = regexp.MustCompile(`^ckpt-(\d{4})-(\d{6})$`)

const stagingName = ".staging"

// state is what state.json holds.
type state struct {
	EpochsDone int      `json:"epochs_done"`
	Batch      int      `json:"batch"` // batches of the next epoch already trained
	History    *History `json:"history"`
	// Partial-epoch accumulators (Batch > 0).
	PartialSeconds float64 `json:"partial_seconds,omitempty"`
	PartialImages  int     `json:"partial_images,omitempty"`
	// StepsPerEpoch is the number of training steps of an epoch: a resumed run must have the same.
	StepsPerEpoch int `json:"steps_per_epoch,omitempty"`
}

func ckptName(epochsDone, batch int) string { return fmt.Sprintf("ckpt-%04d-%06d", epochsDone, batch) }

// checkpoints lists the complete checkpoints in dir, oldest first.
func checkpoints(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && ckptRe.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// saver writes checkpoints for one store.
type saver struct {
	dir     string // OUT/checkpoints
	keep    int
	handler *checkpoint.Handler
}

func newSaver(store *model.Store, dir string, keep int) (*saver, error) {
	staging := filepath.Join(dir, stagingName)
	if err := os.RemoveAll(staging); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create checkpoint folder %s: %w", dir, err)
	}
	h, err := checkpoint.Build(store).Dir(staging).Keep(1).Done()
	if err != nil {
		return nil, fmt.Errorf("checkpoint folder %s: %w", dir, err)
	}
	return &saver{dir: dir, keep: max(keep, 1), handler: h}, nil
}

// save writes a complete checkpoint for st and removes the oldest beyond keep.
func (s *saver) save(st *state) error {
	staging := filepath.Join(s.dir, stagingName)
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return err
	}
	if err := s.handler.Save(); err != nil {
		return fmt.Errorf("saving checkpoint: %w", err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(staging, "state.json"), data); err != nil {
		return err
	}
	// Flush every file before the rename makes the checkpoint visible.
	entries, _ := os.ReadDir(staging)
	for _, e := range entries {
		if f, err := os.Open(filepath.Join(staging, e.Name())); err == nil {
			_ = f.Sync()
			f.Close()
		}
	}
	final := filepath.Join(s.dir, ckptName(st.EpochsDone, st.Batch))
	_ = os.RemoveAll(final) // a leftover of the same position (a rerun), replaced whole
	if err := os.Rename(staging, final); err != nil {
		return fmt.Errorf("saving checkpoint %s: %w", final, err)
	}
	fsutil.SyncDir(s.dir)
	names, err := checkpoints(s.dir)
	if err == nil && len(names) > s.keep {
		for _, n := range names[:len(names)-s.keep] {
			_ = os.RemoveAll(filepath.Join(s.dir, n))
		}
	}
	return nil
}

// latest loads the newest complete checkpoint's state, or returns nil when there is none.
func latest(dir string) (path string, st *state, err error) {
	names, err := checkpoints(dir)
	if err != nil || len(names) == 0 {
		return "", nil, err
	}
	path = filepath.Join(dir, names[len(names)-1])
	data, err := os.ReadFile(filepath.Join(path, "state.json"))
	if err != nil {
		return "", nil, fmt.Errorf("checkpoint %s is incomplete: %w", path, err)
	}
	st = &state{}
	if err := json.Unmarshal(data, st); err != nil {
		return "", nil, fmt.Errorf("checkpoint %s: corrupt state.json: %w", path, err)
	}
	m := ckptRe.FindStringSubmatch(names[len(names)-1])
	e, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	if st.EpochsDone != e || st.Batch != b || st.History == nil || len(st.History.Epochs) != e {
		return "", nil, fmt.Errorf("checkpoint %s: state.json does not match its name", path)
	}
	return path, st, nil
}

// restore loads the variables of the checkpoint at path into store (lazily, as the model creates them).
func restore(store *model.Store, path string) error {
	if _, err := checkpoint.Load(store).Dir(path).Done(); err != nil {
		return fmt.Errorf("loading checkpoint %s: %w", path, err)
	}
	return nil
}
