package trainer

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
)

// blobs is a tiny in-memory dataset: 4×4×1 "images" of three classes, each a noisy constant of its own
// level, so a linear model separates them. Its order depends on the epoch, like the real loader's.
type blobs struct {
	name    string
	n, bs   int
	seed    uint64
	epoch   int
	startAt int
	shuffle bool
	// onBatch, if set, is called before each yielded batch with the batch index.
	onBatch func(i int)
	// poison, if set, makes the batches it returns true for all +Inf (a diverging step).
	poison func(epoch, batch int) bool
	// seen, if set, counts the examples yielded, by epoch and index.
	seen map[[2]int]int
}

func (b *blobs) Name() string      { return b.name }
func (b *blobs) NumBatches() int   { return b.n / b.bs }
func (b *blobs) SetEpoch(e int)    { b.epoch = e }
func (b *blobs) StartAt(batch int) { b.startAt = batch }
func (b *blobs) example(i int) (px []float32, label int32) {
	r := rand.New(rand.NewPCG(b.seed, uint64(i)))
	label = int32(i % 3)
	px = make([]float32, 16)
	for j := range px {
		px[j] = float32(label) - 1 + 0.3*float32(r.NormFloat64())
	}
	return px, label
}

func (b *blobs) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		order := make([]int, b.n)
		for i := range order {
			order[i] = i
		}
		if b.shuffle {
			rand.New(rand.NewPCG(b.seed, uint64(b.epoch)+1000)).Shuffle(b.n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		start := b.startAt
		b.startAt = 0
		for bi := start; bi < b.NumBatches(); bi++ {
			if b.onBatch != nil {
				b.onBatch(bi)
			}
			x := make([]float32, 0, b.bs*16)
			y := make([]int32, 0, b.bs)
			for _, i := range order[bi*b.bs : (bi+1)*b.bs] {
				px, l := b.example(i)
				if b.poison != nil && b.poison(b.epoch, bi) {
					for j := range px {
						px[j] = float32(math.Inf(1))
					}
				}
				if b.seen != nil {
					b.seen[[2]int{b.epoch, i}]++
				}
				x = append(x, px...)
				y = append(y, l)
			}
			batch := train.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, b.bs, 4, 4, 1)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, b.bs, 1)},
			}
			if !yield(batch, nil) {
				return
			}
		}
	}
}

func linear(scope *model.Scope, x *graph.Node) *graph.Node {
	x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
	return layers.Dense(scope.In("dense"), x, true, 3)
}

func testData() Data {
	return Data{
		Train:   &blobs{name: "train", n: 96, bs: 16, seed: 1, shuffle: true},
		Test:    &blobs{name: "test", n: 48, bs: 16, seed: 2},
		Classes: []string{"low", "mid", "high"},
	}
}

func testConfig(out string, epochs int) Config {
	return Config{Model: "linear", Dataset: "blobs", Epochs: epochs, BatchSize: 16, Optimizer: "sgd", LR: 0.1,
		Momentum: 0.9, Schedule: "cosine", Seed: 1, OutDir: out}
}

func run(t *testing.T, cfg Config, data Data) (*Trainer, *History, error) {
	t.Helper()
	tr, err := New(testutil.Choice(t), cfg, linear, data)
	if err != nil {
		t.Fatal(err)
	}
	tr.Log = &bytes.Buffer{}
	tr.Progress = NoProgress{}
	h, err := tr.Run(context.Background())
	return tr, h, err
}

func TestTrainLearnsAndWritesHistory(t *testing.T) {
	out := t.TempDir()
	cfg := testConfig(out, 5)
	cfg.LR = 0.3
	cfg.LogEvery = 2
	tr, h, err := run(t, cfg, testData())
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 5 {
		t.Fatalf("want 5 epochs, got %d", len(h.Epochs))
	}
	last := h.Last()
	if last.TestAcc < 0.95 || last.TrainLoss >= h.Epochs[0].TrainLoss || last.Images != 96 || last.Steps != 6 {
		t.Fatalf("did not learn: %+v (first %+v)", last, h.Epochs[0])
	}
	if last.Seconds <= 0 || last.ImagesPerSec <= 0 || h.CompileSeconds <= 0 {
		t.Errorf("timings missing: %+v compile=%v", last, h.CompileSeconds)
	}
	if last.LR >= h.Epochs[0].LR {
		t.Errorf("cosine schedule should lower the LR: %v then %v", h.Epochs[0].LR, last.LR)
	}
	var total int64
	for i, row := range h.Confusion {
		for j, c := range row {
			total += c
			if i != j && c > 2 {
				t.Errorf("confusion[%d][%d]=%d", i, j, c)
			}
		}
	}
	if total != 48 {
		t.Errorf("confusion matrix counts %d test images, want 48: %v", total, h.Confusion)
	}
	if len(h.Steps) != 15 || h.Steps[0].Step != 2 || h.Steps[14].Step != 30 || h.Steps[14].Epoch != 5 || h.Steps[0].Loss <= h.Steps[14].Loss {
		t.Errorf("step log: %+v", h.Steps)
	}
	if h.Parameters != 16*3+3 {
		t.Errorf("parameters %d", h.Parameters)
	}
	if !strings.Contains(tr.Log.(*bytes.Buffer).String(), "test_acc") {
		t.Errorf("no epoch table printed")
	}

	// history.json and history.csv agree.
	loaded, err := LoadHistory(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Epochs) != 5 || loaded.Epochs[4].TestAcc != last.TestAcc || loaded.Env[0].Backend == "" || loaded.Env[0].Used != 1 {
		t.Fatalf("history.json: %+v", loaded)
	}
	f, _ := os.Open(filepath.Join(out, "history.csv"))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 6 || rows[0][0] != "epoch" || rows[5][0] != "5" {
		t.Fatalf("history.csv: %v %v", rows, err)
	}
	names, _ := checkpoints(filepath.Join(out, "checkpoints"))
	if len(names) != 2 || names[1] != "ckpt-0005-000000" {
		t.Fatalf("checkpoints kept: %v", names)
	}
}

// TestResumeAddsEpochs: train 2 epochs, then ask for 4 with Config.Resume; the result must equal a straight
// 4-epoch run (same weights, so the same losses), with epochs numbered 1..4 and none repeated.
func TestResumeAddsEpochs(t *testing.T) {
	// A constant schedule: a cosine one depends on the total number of epochs, which changes here.
	straight := t.TempDir()
	sc := testConfig(straight, 4)
	sc.Schedule = "constant"
	_, want, err := run(t, sc, testData())
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	first := testConfig(out, 2)
	first.Schedule = "constant"
	if _, _, err := run(t, first, testData()); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(out, 4)
	cfg.Schedule = "constant"
	cfg.Resume = true
	_, got, err := run(t, cfg, testData())
	if err != nil {
		t.Fatal(err)
	}
	sameHistory(t, got, want)
	if len(got.Env) != 2 {
		t.Errorf("want one environment record per run, got %d", len(got.Env))
	}
}

// TestInterruptAndResume cancels the run in the middle of epoch 2 (as SIGTERM does), checks the
// mid-epoch checkpoint, resumes, and compares with an uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	_, want, err := run(t, testConfig(t.TempDir(), 3), testData())
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	data := testData()
	tb := data.Train.(*blobs)
	tb.onBatch = func(i int) {
		if tb.epoch == 1 && i == 3 {
			cancel() // arrives while batch 3 of epoch 2 is being prepared
		}
	}
	tr, err := New(testutil.Choice(t), testConfig(out, 3), linear, data)
	if err != nil {
		t.Fatal(err)
	}
	tr.Log, tr.Progress = &bytes.Buffer{}, NoProgress{}
	h, err := tr.Run(ctx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want ErrInterrupted, got %v", err)
	}
	if len(h.Epochs) != 1 {
		t.Fatalf("one epoch should be complete, got %d", len(h.Epochs))
	}
	names, _ := checkpoints(filepath.Join(out, "checkpoints"))
	if len(names) == 0 || names[len(names)-1] != "ckpt-0001-000004" {
		t.Fatalf("want a mid-epoch checkpoint after 4 batches of epoch 2, got %v", names)
	}

	cfg := testConfig(out, 3)
	cfg.Resume = true
	_, got, err := run(t, cfg, testData())
	if err != nil {
		t.Fatal(err)
	}
	sameHistory(t, got, want)
	if !got.Epochs[1].Interrupted || got.Epochs[1].Steps != 6 || got.Epochs[1].Images != 96 {
		t.Errorf("resumed epoch 2: %+v", got.Epochs[1])
	}
}

func sameHistory(t *testing.T, got, want *History) {
	t.Helper()
	if len(got.Epochs) != len(want.Epochs) {
		t.Fatalf("got %d epochs, want %d", len(got.Epochs), len(want.Epochs))
	}
	for i := range want.Epochs {
		g, w := got.Epochs[i], want.Epochs[i]
		if g.Epoch != i+1 {
			t.Errorf("epoch %d numbered %d", i+1, g.Epoch)
		}
		for _, p := range [][3]float64{{g.TrainLoss, w.TrainLoss, 0}, {g.TestLoss, w.TestLoss, 1}, {g.TestAcc, w.TestAcc, 2}} {
			if math.Abs(p[0]-p[1]) > 1e-4*math.Max(1, math.Abs(p[1])) {
				t.Errorf("epoch %d metric %v: resumed %v, uninterrupted %v", i+1, p[2], p[0], p[1])
			}
		}
	}
}

func TestRefusesToOverwriteCheckpoints(t *testing.T) {
	out := t.TempDir()
	if _, _, err := run(t, testConfig(out, 1), testData()); err != nil {
		t.Fatal(err)
	}
	_, err := New(testutil.Choice(t), testConfig(out, 2), linear, testData())
	if err == nil || !strings.Contains(err.Error(), "Config.Resume") {
		t.Fatalf("want an error pointing at Config.Resume, got %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Epochs: 0, BatchSize: 1, Optimizer: "sgd", LR: 0.1},
		{Epochs: 1, BatchSize: 0, Optimizer: "sgd", LR: 0.1},
		{Epochs: 1, BatchSize: 1, Optimizer: "sgd", LR: 0.1, LabelSmoothing: 1},
		{Epochs: 1, BatchSize: 1, Optimizer: "lbfgs", LR: 0.1},
		{Epochs: 1, BatchSize: 1, Optimizer: "sgd", LR: 0.1, LabelSmoothing: math.NaN()},
		{Epochs: 1, BatchSize: 1, Optimizer: "sgd", LR: math.Inf(1)},
		{Epochs: 1, BatchSize: 1, Optimizer: "sgd", LR: 0.1, Momentum: math.NaN()},
		{Epochs: 1, BatchSize: 1, Optimizer: "sgd", LR: 0.1, WeightDecay: math.Inf(1)},
		{Epochs: 1, BatchSize: 1, Optimizer: "sgd", LR: 0.1, WarmupEpochs: math.NaN()},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

func TestLabelSmoothingLoss(t *testing.T) {
	// Perfectly confident, correct logits: plain CE → 0; smoothed CE > 0 and equals the formula.
	logits := tensors.FromValue([][]float32{{20, 0, 0}})
	labels := tensors.FromValue([][]int32{{0}})
	eps := 0.3
	got := graph.MustExecOnce(testutil.Backend(t), func(l, y *graph.Node) *graph.Node {
		return CrossEntropy(eps)([]*graph.Node{y}, []*graph.Node{l})
	}, logits, labels).Value().(float32)
	// target = [0.8, 0.1, 0.1]; -log p ≈ [0, 20, 20] → 0.1·20·2 = 4.
	if math.Abs(float64(got)-4) > 1e-3 {
		t.Fatalf("smoothed CE %v, want ≈4", got)
	}
}

// TestLineProgress drives the batch-log progress line with a fake clock: a line once Every has passed
// since the epoch's start or the last line, none before, none at the epoch's last step.
func TestLineProgress(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	p := &LineProgress{W: &buf, Every: time.Minute, now: func() time.Time { return now }}
	p.Start(2, 5, 10)
	now = now.Add(time.Minute - time.Nanosecond)
	p.Step(5, -1) // not a minute into the epoch: nothing
	if buf.Len() != 0 {
		t.Fatalf("a line before Every passed: %q", buf.String())
	}
	now = now.Add(time.Nanosecond)
	p.Step(6, 1.5) // a minute in, 6 steps done: 0.1 steps/s, 4 steps (40 s) left
	now = now.Add(30 * time.Second)
	p.Step(7, -1) // 30 s after the last line: nothing
	now = now.Add(time.Hour)
	p.Step(10, -1) // the last step prints nothing: the epoch line follows
	want := "  epoch 2/5: 6/10 steps (60%), 0.1 steps/s, loss 1.5000, about 40s left\n"
	if out := buf.String(); out != want {
		t.Fatalf("progress lines:\n%q\nwant\n%q", out, want)
	}
}

// The notebook bar is one display, updated in place for the whole run, never emptied: saved notebooks
// keep its last state instead of one empty HTML output per epoch.
func TestCellProgressOneDisplayNeverEmpty(t *testing.T) {
	ids := map[string]bool{}
	var last string
	p := &cellProgress{show: func(id, html, text string) {
		ids[id] = true
		if html == "" || text == "" || !strings.Contains(html, "epoch") {
			t.Errorf("empty or label-less display: html %q, text %q", html, text)
		}
		last = text
	}}
	for epoch := 1; epoch <= 2; epoch++ {
		p.Start(epoch, 2, 10)
		p.Step(10, 0.5)
		p.Done()
	}
	if len(ids) != 1 {
		t.Errorf("the bar used %d displays, want 1", len(ids))
	}
	if !strings.HasPrefix(last, "epoch 2/2: 10/10 steps") || !strings.Contains(last, "loss 0.5000") {
		t.Errorf("final state %q", last)
	}
}

// TestHistoryRecordsTheBackendItWasGiven: a history says where the run computed, as the choice handed to
// New describes it (name, reason, device), not whatever a process-wide choice would say.
func TestHistoryRecordsTheBackendItWasGiven(t *testing.T) {
	c := *testutil.Choice(t)
	c.Name, c.Reason = "go:test", "handed to the trainer by TestHistoryRecordsTheBackendItWasGiven"
	tr, err := New(&c, testConfig(t.TempDir(), 1), linear, testData())
	if err != nil {
		t.Fatal(err)
	}
	tr.Log, tr.Progress = &bytes.Buffer{}, NoProgress{}
	h, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	saved, err := LoadHistory(filepath.Join(tr.cfg.OutDir, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, hist := range []*History{h, saved} {
		e := hist.Env[0]
		if e.Backend != c.Name || e.Reason != c.Reason || e.Device != c.DeviceDescription() || e.Devices != c.Backend.NumDevices() {
			t.Fatalf("environment %+v, want backend %q (%q) on %q", e, c.Name, c.Reason, c.DeviceDescription())
		}
	}
	if _, err := New(nil, testConfig("", 1), linear, testData()); err == nil || !strings.Contains(err.Error(), "platform.Of") {
		t.Fatalf("no backend: %v", err)
	}
}

// The terminal bar shows the loss only at the steps that read it: the trainer passes a negative loss at
// the others (it showed "loss -1.0000" there, checking for NaN instead).
func TestTermProgressLoss(t *testing.T) {
	p := &termProgress{w: io.Discard}
	p.Start(1, 2, 40)
	p.Step(1, -1)
	if d := p.bar.State().Description; d != "epoch 1/2" {
		t.Errorf("after a step without a loss: %q, want the epoch label", d)
	}
	p.Step(20, 0.5)
	p.Step(21, -1)
	if d := p.bar.State().Description; d != "loss 0.5000" {
		t.Errorf("after a step without a loss: %q, want the last loss read", d)
	}
	p.Done()
}

// TestFiguresReadByMetric: the history's figures are read where GoMLX's trainer puts each metric, not at
// fixed positions: with GoMLX's extra "no-reg" loss metrics inserted among them (WithMainLossMetric), a
// run records the same losses and accuracies as without.
func TestFiguresReadByMetric(t *testing.T) {
	figures := func(extra bool) []Epoch {
		tr, err := New(testutil.Choice(t), testConfig("", 2), linear, testData())
		if err != nil {
			t.Fatal(err)
		}
		if extra {
			tr.gt.WithMainLossMetric()
			if tr.at, err = tr.metricPositions(); err != nil {
				t.Fatal(err)
			}
		}
		tr.Log, tr.Progress = &bytes.Buffer{}, NoProgress{}
		h, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return h.Epochs
	}
	plain, extra := figures(false), figures(true)
	for i := range plain {
		p, e := plain[i], extra[i]
		if p.TrainLoss != e.TrainLoss || p.TrainAcc != e.TrainAcc || p.TestLoss != e.TestLoss || p.TestAcc != e.TestAcc {
			t.Errorf("epoch %d: train loss %v, acc %v, test loss %v, acc %v; with GoMLX's extra metrics %v, %v, %v, %v",
				i+1, p.TrainLoss, p.TrainAcc, p.TestLoss, p.TestAcc, e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc)
		}
	}
}

// TestOnEpochBeforeTheRow: OnEpoch runs before its epoch's row is printed, so that a figure it creates at
// the first epoch comes before the table in a notebook cell, and the table stays one block: at each call
// the log holds the rows of the epochs before, and the header only from the second on.
func TestOnEpochBeforeTheRow(t *testing.T) {
	tr, err := New(testutil.Choice(t), testConfig(t.TempDir(), 3), linear, testData())
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	tr.Log, tr.Progress = &log, NoProgress{}
	var seen []string
	tr.OnEpoch = func(h *History) { seen = append(seen, log.String()) }
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("OnEpoch called %d times, want 3", len(seen))
	}
	if seen[0] != "" {
		t.Errorf("at the first OnEpoch the log already holds %q: a figure made then would follow the table's start", seen[0])
	}
	rows := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(rows) != 4 || !strings.HasPrefix(strings.TrimSpace(rows[0]), "epoch") {
		t.Fatalf("table:\n%s", log.String())
	}
	for i := 1; i < 3; i++ {
		if want := strings.Join(rows[:i+1], "\n") + "\n"; seen[i] != want {
			t.Errorf("OnEpoch %d saw the log %q, want the header and %d row(s) %q", i+1, seen[i], i, want)
		}
	}
}
