package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// TestHistoryNonFinite: NaN and infinite figures (a diverging run's) are written as null, and read back as
// NaN; the old code failed to save with "json: unsupported value: NaN" and left no history.json.
func TestHistoryNonFinite(t *testing.T) {
	out := t.TempDir()
	h := &History{Model: "m", Dataset: "d", Started: time.Now().UTC(),
		Epochs:      []Epoch{{Epoch: 1, TrainLoss: math.NaN(), TestLoss: math.Inf(1), TestAcc: 0.5, LR: math.Inf(-1), Interrupted: true}},
		Steps:       []StepRecord{{Step: 1, Epoch: 0.5, Loss: math.NaN(), Accuracy: 0.25}},
		Divergences: []Divergence{{Epoch: 1, Step: 2, GlobalStep: 2, Loss: math.Inf(1), LR: 10}}}
	if err := h.Save(out); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"train_loss": null`, `"test_loss": null`, `"lr": null`, `"test_accuracy": 0.5`, `"interrupted": true`, `"loss": null`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("history.json lacks %s:\n%s", want, raw)
		}
	}
	if !json.Valid(raw) {
		t.Fatal("history.json is not valid JSON")
	}
	got, err := LoadHistory(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := got.Epochs[0]
	if !math.IsNaN(e.TrainLoss) || !math.IsNaN(e.TestLoss) || !math.IsNaN(e.LR) || e.TestAcc != 0.5 || !e.Interrupted || e.Epoch != 1 {
		t.Errorf("epoch read back: %+v", e)
	}
	if s := got.Steps[0]; !math.IsNaN(s.Loss) || s.Accuracy != 0.25 || s.Epoch != 0.5 {
		t.Errorf("step read back: %+v", s)
	}
	if d := got.Divergences[0]; !math.IsNaN(d.Loss) || d.LR != 10 || d.GlobalStep != 2 {
		t.Errorf("divergence read back: %+v", d)
	}
	if !got.Started.Equal(h.Started) {
		t.Errorf("started %v, want %v", got.Started, h.Started)
	}
	csv, _ := os.ReadFile(filepath.Join(out, "history.csv"))
	if !bytes.Contains(csv, []byte("NaN")) {
		t.Errorf("history.csv: %s", csv)
	}
}

// TestDivergenceStopsAndResumes: a batch that makes the loss NaN in epoch 2 stops the run at that very
// step, with a DivergedError that names it; history.json records the divergence and the epoch before
// it; the checkpoint of epoch 1 stays the latest; and Config.Resume (without the bad batch) finishes the run,
// keeping the record. The old code trained on with NaN weights and lost the history.
func TestDivergenceStopsAndResumes(t *testing.T) {
	out := t.TempDir()
	data := testData()
	data.Train.(*blobs).poison = func(epoch, batch int) bool { return epoch == 1 && batch == 2 }
	_, h, err := run(t, testConfig(out, 3), data)
	var d *DivergedError
	if !errors.As(err, &d) {
		t.Fatalf("want a DivergedError, got %v", err)
	}
	ckpt := filepath.Join(out, "checkpoints", "ckpt-0001-000000")
	if d.Epoch != 2 || d.Step != 3 || d.GlobalStep != 9 || !(math.IsNaN(d.Loss) || math.IsInf(d.Loss, 0)) || d.Checkpoint != ckpt || d.LR != 0.1 {
		t.Errorf("divergence %+v", d.Divergence)
	}
	msg := err.Error()
	for _, want := range []string{"epoch 2, step 3", "step 9 of the run", "Config.LR, now 0.1", ckpt, "Config.Resume"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if len(h.Epochs) != 1 || len(h.Divergences) != 1 {
		t.Errorf("history: %d epochs, %d divergences", len(h.Epochs), len(h.Divergences))
	}
	saved, err := LoadHistory(filepath.Join(out, "history.json"))
	if err != nil || len(saved.Epochs) != 1 || len(saved.Divergences) != 1 || saved.Divergences[0].Step != 3 {
		t.Fatalf("history.json after divergence: %+v %v", saved, err)
	}
	names, _ := checkpoints(filepath.Join(out, "checkpoints"))
	if len(names) == 0 || names[len(names)-1] != "ckpt-0001-000000" {
		t.Fatalf("the last good checkpoint should be the latest: %v", names)
	}

	cfg := testConfig(out, 3)
	cfg.Resume, cfg.LR = true, 0.05
	_, h, err = run(t, cfg, testData())
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 3 || len(h.Divergences) != 1 {
		t.Fatalf("resumed: %d epochs, divergences %+v", len(h.Epochs), h.Divergences)
	}
	if last := h.Env[len(h.Env)-1]; h.Config.LR != 0.05 || len(last.Changed) != 1 || last.Changed[0] != "Config.LR 0.1 → 0.05" {
		t.Errorf("the history should say the learning rate changed on resume: config lr %v, changes %q", h.Config.LR, last.Changed)
	}
	for _, e := range h.Epochs {
		if math.IsNaN(e.TrainLoss) {
			t.Errorf("epoch %d trained on NaN weights: %+v", e.Epoch, e)
		}
	}
}

// TestDivergenceInFirstEpoch: with no checkpoint yet, the history is still written; a new run in the same
// folder is refused (it would replace that history), and Config.Resume starts over, keeping the record.
func TestDivergenceInFirstEpoch(t *testing.T) {
	out := t.TempDir()
	data := testData()
	data.Train.(*blobs).poison = func(epoch, batch int) bool { return batch == 0 }
	_, _, err := run(t, testConfig(out, 2), data)
	var d *DivergedError
	if !errors.As(err, &d) || d.Step != 1 || d.Checkpoint != "" || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("want a divergence at step 1 without checkpoint, got %v", err)
	}
	if _, err := New(testutil.Choice(t), testConfig(out, 2), linear, testData()); err == nil || !strings.Contains(err.Error(), "Config.Resume") {
		t.Fatalf("a new run over the diverged run's history: %v", err)
	}
	cfg := testConfig(out, 2)
	cfg.Resume = true
	_, h, err := run(t, cfg, testData())
	if err != nil || len(h.Epochs) != 2 || len(h.Divergences) != 1 {
		t.Fatalf("resume after a first-epoch divergence: %v, %+v", err, h)
	}
}

// interruptAt runs cfg on data until batch `batch` of epoch index `epoch` is prepared, then cancels (as
// SIGTERM does), and checks the mid-epoch checkpoint.
func interruptAt(t *testing.T, cfg Config, data Data, epoch, batch int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tb := data.Train.(*blobs)
	tb.onBatch = func(i int) {
		if tb.epoch == epoch && i == batch {
			cancel()
		}
	}
	tr, err := New(testutil.Choice(t), cfg, linear, data)
	if err != nil {
		t.Fatal(err)
	}
	tr.Log, tr.Progress = &bytes.Buffer{}, NoProgress{}
	if _, err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want ErrInterrupted, got %v", err)
	}
}

// TestResumeRefusesOtherBatchOrSeed is the case: interrupted mid-epoch, resumed with another
// batch size (the old code silently repeated images, or found "no batches"), or another seed (another
// shuffle): refused, naming the flag and both values.
func TestResumeRefusesOtherBatchOrSeed(t *testing.T) {
	out := t.TempDir()
	seen := map[[2]int]int{}
	first := testData()
	first.Train.(*blobs).seen = seen
	interruptAt(t, testConfig(out, 3), first, 1, 3)
	for _, c := range []struct {
		change func(*Config, *blobs)
		want   []string
	}{
		{func(c *Config, b *blobs) { c.BatchSize, b.bs = 32, 32 }, []string{"Config.BatchSize differs", "Config.BatchSize 16", "Config.BatchSize 32", "resume with Config.BatchSize 16"}},
		{func(c *Config, b *blobs) { c.BatchSize, b.bs = 8, 8 }, []string{"Config.BatchSize differs", "Config.BatchSize 8"}},
		{func(c *Config, b *blobs) { c.Seed, b.seed = 7, 7 }, []string{"Config.Seed differs", "Config.Seed 1", "Config.Seed 7"}},
	} {
		cfg := testConfig(out, 3)
		cfg.Resume = true
		data := testData()
		c.change(&cfg, data.Train.(*blobs))
		_, err := New(testutil.Choice(t), cfg, linear, data)
		if err == nil {
			t.Fatalf("resume with %+v accepted; want %q", cfg, c.want)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	// Unchanged settings resume, and no image is repeated or skipped within the interrupted epoch.
	cfg := testConfig(out, 2)
	cfg.Resume = true
	data := testData()
	tb := data.Train.(*blobs)
	tb.seen = seen
	if _, _, err := run(t, cfg, data); err != nil {
		t.Fatal(err)
	}
	for i := range tb.n {
		if n := seen[[2]int{1, i}]; n != 1 {
			t.Errorf("epoch 2, split over two runs, trained on image %d %d times", i, n)
		}
	}
}

// TestResumeRefusesOtherDataOrder: the settings a recipe records (limits, augmentation, split...) must
// match too, and so must the number of steps per epoch (the data or the devices changed).
func TestResumeRefusesOtherDataOrder(t *testing.T) {
	out := t.TempDir()
	cfg := testConfig(out, 3)
	cfg.DataOrder = []Setting{{"Options.LimitTrain", "96"}, {"Options.NoAugment", "false"}}
	interruptAt(t, cfg, testData(), 1, 3)
	for _, c := range []struct {
		order []Setting
		n     int
		want  string
	}{
		{[]Setting{{"Options.LimitTrain", "48"}, {"Options.NoAugment", "false"}}, 96, "Options.LimitTrain differs"},
		{[]Setting{{"Options.LimitTrain", "96"}, {"Options.NoAugment", "true"}}, 96, "Options.NoAugment differs"},
		{[]Setting{{"Options.LimitTrain", "96"}}, 96, "Options.NoAugment false, which this run does not set"},
		{cfg.DataOrder, 64, "trained with 6 steps per epoch, this run has 4"},
	} {
		rc := testConfig(out, 3)
		rc.Resume, rc.DataOrder = true, c.order
		data := testData()
		data.Train.(*blobs).n = c.n
		_, err := New(testutil.Choice(t), rc, linear, data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, %d images: want an error containing %q, got %v", c.order, c.n, c.want, err)
		}
	}
	rc := testConfig(out, 3)
	rc.Resume, rc.DataOrder = true, cfg.DataOrder
	if _, _, err := run(t, rc, testData()); err != nil {
		t.Fatalf("the same settings must resume: %v", err)
	}
}

// TestResumeReadsOldSettingNames: checkpoints written before settings were named by their fields
// recorded the command line's flags (--batch, --seed, --limit-train); resuming one reads them under
// today's names, and still refuses a setting that differs.
func TestResumeReadsOldSettingNames(t *testing.T) {
	out := t.TempDir()
	cfg := testConfig(out, 3)
	cfg.DataOrder = []Setting{{"Options.LimitTrain", "96"}}
	interruptAt(t, cfg, testData(), 1, 3)
	states, _ := filepath.Glob(filepath.Join(out, "checkpoints", "*", "state.json"))
	if len(states) == 0 {
		t.Fatal("no checkpoint written")
	}
	old := strings.NewReplacer(`"Config.BatchSize"`, `"--batch"`, `"Config.Seed"`, `"--seed"`, `"Options.LimitTrain"`, `"--limit-train"`)
	for _, p := range states {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"Config.BatchSize"`) {
			t.Fatalf("%s does not record Config.BatchSize:\n%s", p, data)
		}
		if err := os.WriteFile(p, []byte(old.Replace(string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rc := testConfig(out, 3)
	rc.Resume, rc.DataOrder = true, []Setting{{"Options.LimitTrain", "48"}}
	if _, err := New(testutil.Choice(t), rc, linear, testData()); err == nil || !strings.Contains(err.Error(), "Options.LimitTrain differs") {
		t.Errorf("an old checkpoint's --limit-train 96 against Options.LimitTrain 48: want a refusal naming Options.LimitTrain, got %v", err)
	}
	rc = testConfig(out, 3)
	rc.Resume, rc.DataOrder = true, cfg.DataOrder
	if _, _, err := run(t, rc, testData()); err != nil {
		t.Fatalf("an old checkpoint with the same settings must resume: %v", err)
	}
}

// FuzzHistoryJSON reads arbitrary bytes as a history.json (the nullable-float decoding is a parser of
// its own): never a panic, and whatever loads saves again (NaN and infinities included) and reads back
// to the same JSON.
func FuzzHistoryJSON(f *testing.F) {
	f.Add([]byte(`{"model":"m","epochs":[{"epoch":1,"train_loss":null,"test_loss":1.5}],"steps":[{"step":1,"loss":null}],"divergences":[{"epoch":1,"loss":null}]}`))
	f.Add([]byte(`{"epochs":[{"epoch":1,"lr":1e308,"seconds":-0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h History
		if json.Unmarshal(data, &h) != nil {
			return
		}
		first, err := json.Marshal(&h)
		if err != nil {
			t.Fatalf("a loaded history does not save: %v", err)
		}
		var again History
		if err := json.Unmarshal(first, &again); err != nil {
			t.Fatalf("a saved history does not load: %v\n%s", err, first)
		}
		second, _ := json.Marshal(&again)
		if !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the history:\n%s\n%s", first, second)
		}
	})
}

// TestNaNWeightsNeverCheckpointed: a variable that turns NaN while the loss stays finite (as a NaN
// gradient can make it) is caught before the epoch's checkpoint is written: the run stops naming the
// variable, and the previous checkpoint stays the latest.
func TestNaNWeightsNeverCheckpointed(t *testing.T) {
	out := t.TempDir()
	data := testData()
	tb := data.Train.(*blobs)
	var tr *Trainer
	tb.onBatch = func(i int) {
		if tb.epoch == 1 && i == 5 {
			tr.Store().RootScope().In("extra").VariableWithValue("x", []float32{1, float32(math.NaN())})
		}
	}
	tr, err := New(testutil.Choice(t), testConfig(out, 3), linear, data)
	if err != nil {
		t.Fatal(err)
	}
	tr.Log, tr.Progress = &bytes.Buffer{}, NoProgress{}
	_, err = tr.Run(context.Background())
	var d *DivergedError
	if !errors.As(err, &d) || d.Variable != "/extra/x" || d.Epoch != 2 || d.Step != 6 || !strings.Contains(err.Error(), "variable /extra/x holds NaN") {
		t.Fatalf("want a divergence naming /extra/x after step 6 of epoch 2, got %v", err)
	}
	names, _ := checkpoints(filepath.Join(out, "checkpoints"))
	if len(names) == 0 || names[len(names)-1] != "ckpt-0001-000000" {
		t.Fatalf("a checkpoint with NaN weights was written: %v", names)
	}
}
