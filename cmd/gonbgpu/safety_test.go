package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// oneLineError checks a refused command: exit 1, one line on stderr (the backend notice aside) holding
// every fragment, no panic.
func oneLineError(t *testing.T, args []string, stderr string, code int, fragments ...string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "gonbgpu: backend") {
			lines = append(lines, l)
		}
	}
	if code != 1 || len(lines) != 1 || strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("%v: exit %d, want 1 with one line of error and no panic:\n%s", args, code, stderr)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(lines[0], f) {
			t.Errorf("%v: error %q lacks %q", args, lines[0], f)
		}
	}
}

// TestTrainFloatFlags: every float flag is checked for finiteness and range, with a message naming the
// flag (the old code panicked on --val-fraction NaN and let NaN and Inf through the others).
func TestTrainFloatFlags(t *testing.T) {
	for _, c := range []struct {
		flag, value string
	}{
		{"--val-fraction", "NaN"}, {"--val-fraction", "1"}, {"--lr", "1e300"}, {"--lr", "-Inf"}, {"--lr", "NaN"},
		{"--momentum", "NaN"}, {"--momentum", "1.5"}, {"--weight-decay", "Inf"}, {"--weight-decay", "-1"},
		{"--label-smoothing", "2"}, {"--label-smoothing", "NaN"}, {"--width", "NaN"}, {"--width", "+Inf"},
	} {
		args := []string{"train", "--dataset", "folder", "--data", t.TempDir(), c.flag, c.value}
		_, stderr, code := gonbgpu(t, nil, args...)
		oneLineError(t, args, stderr, code, c.flag+" must be")
	}
}

// TestTrainSizeFlagsMemory: --size, --width and --batch that cannot fit fail at once, with the figure,
// instead of the runtime's fatal out-of-memory: before allocating anything big (a refusal's peak memory
// is tens of MiB; the runs would need GiB to TiB). That, not a time limit, says "at once".
func TestTrainSizeFlagsMemory(t *testing.T) {
	dir := writeFolder(t, false)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--dataset", "folder", "--data", dir, "--size", "20000"}, []string{"--size 20000", "needs at least", "TiB of memory"}},
		{[]string{"train", "--width", "500"}, []string{"width 500", "needs at least", "GiB of memory", "for the parameters"}},
		{[]string{"train", "--batch", "100000000"}, []string{"--batch 100000000", "needs at least", "TiB of memory"}},
	} {
		_, stderr, code, peak := gonbgpuPeak(t, nil, c.args...)
		oneLineError(t, c.args, stderr, code, c.want...)
		if peak > 1<<30 {
			t.Errorf("%v: used %d MiB of memory before failing", c.args, peak>>20)
		}
	}
}

// TestTrainDivergence: a learning rate that makes the loss NaN stops the run at that step with one line
// (step, value, what to try), keeps a history.json that records it, and --resume with a sane learning
// rate then trains. The old code died at the end of the epoch with "json: unsupported value: NaN",
// leaving no history.json. (--weight-decay 0.5 at --lr 100 multiplies the weights by about -49 a step:
// they overflow within some twenty steps, whatever the rounding.)
func TestTrainDivergence(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	base := []string{"train", "--model", "resnet20", "--width", "0.25", "--limit-train", "256", "--limit-test", "64",
		"--batch", "32", "--out", out}
	args := append(append([]string{}, base...), "--epochs", "6", "--lr", "100", "--weight-decay", "0.5")
	_, stderr, code := gonbgpu(t, nil, args...)
	oneLineError(t, args, stderr, code, "training diverged", "step", "--lr, now 100", "--resume")
	h, err := trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatalf("no history after divergence: %v", err)
	}
	if len(h.Divergences) != 1 || !math.IsNaN(h.Divergences[0].Loss) && !math.IsInf(h.Divergences[0].Loss, 0) {
		t.Fatalf("history does not record the divergence: %+v", h.Divergences)
	}
	d := h.Divergences[0]
	if !strings.Contains(stderr, fmt.Sprintf("epoch %d, step %d", d.Epoch, d.Step)) {
		t.Errorf("message and history disagree on the step: %+v\n%s", d, stderr)
	}

	args = append(append([]string{}, base...), "--epochs", "1", "--lr", "0.05", "--resume")
	stdout, stderr, code := gonbgpu(t, nil, args...)
	if code != 0 {
		t.Fatalf("resume after divergence: exit %d\n%s\n%s", code, stdout, stderr)
	}
	h, err = trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil || len(h.Epochs) != 1 || len(h.Divergences) != 1 || math.IsNaN(h.Epochs[0].TrainLoss) {
		t.Fatalf("history after resume: %v %+v", err, h)
	}
}

// TestTrainResumeOtherBatch is the case: stopped by SIGTERM in epoch 2, resumed with another
// --batch (the old code repeated images, or found no batches at all) or --seed: refused, naming the
// flag; resumed unchanged, it finishes.
func TestTrainResumeOtherBatch(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	p := startUntilStep(t, small(out, "3"), 2, 4) // 4 batches into epoch 2
	p.signal(syscall.SIGTERM)
	p.wait()
	if names, _ := filepath.Glob(filepath.Join(out, "checkpoints", "ckpt-*")); len(names) == 0 {
		t.Fatal("no checkpoint after SIGTERM")
	}
	for _, c := range []struct{ flag, value, was string }{{"--batch", "64", "32"}, {"--batch", "16", "32"}, {"--seed", "2", "1"}, {"--limit-train", "512", "1024"}} {
		args := append(small(out, "3"), "--resume", c.flag, c.value)
		_, stderr, code := gonbgpu(t, nil, args...)
		oneLineError(t, args, stderr, code, c.flag+" differs", c.flag+" "+c.was, c.flag+" "+c.value)
	}
	stdout, stderr, code := gonbgpu(t, nil, append(small(out, "3"), "--resume")...)
	if code != 0 {
		t.Fatalf("unchanged resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	h, err := trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil || len(h.Epochs) != 3 {
		t.Fatalf("history: %v %+v", err, h)
	}
	for _, e := range h.Epochs {
		if e.Images != 1024 || e.Steps != 32 {
			t.Errorf("epoch %d: %d images in %d steps, want 1024 in 32", e.Epoch, e.Images, e.Steps)
		}
	}
}

// TestTrainFolderFIFO: a named pipe in a class folder neither hangs the run nor goes unmentioned.
func TestTrainFolderFIFO(t *testing.T) {
	dir := writeFolder(t, false)
	fifo := filepath.Join(dir, "circles", "pipe.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	cmd := exec.Command(binary, "train", "--dataset", "folder", "--data", dir, "--size", "16", "--model", "resnet20",
		"--width", "0.25", "--epochs", "1", "--batch", "4", "--out", filepath.Join(t.TempDir(), "out"))
	cmd.Env = append(os.Environ(), "GOMLX_BACKEND=go")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	hung := time.AfterFunc(hangGuard, func() { cmd.Process.Kill() })
	err := cmd.Run()
	noRace(t, cmd.Args, stderr.String())
	if !hung.Stop() {
		t.Fatal("gonbgpu train hangs on a named pipe in the data folder")
	}
	if err != nil || !strings.Contains(stdout.String(), fifo) || !strings.Contains(stdout.String(), "named pipe") {
		t.Fatalf("%v; the summary should name the pipe that was not read:\n%s\n%s", err, stdout.String(), stderr.String())
	}
	_ = os.Remove(fifo)
}
