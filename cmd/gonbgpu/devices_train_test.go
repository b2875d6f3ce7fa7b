package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// Data-parallel training through the CLI, executed on XLA's CPU devices (GOMLX_BACKEND=xla:cpu,devices=N):
// what a multi-GPU job does, on a machine without GPUs. They need the pinned XLA CPU plugin (`make venv`,
// which `make test` runs first): without it each run fails with the plugin's install message.

// onCPUDevices is the environment of a run on a backend of n XLA CPU devices (a run trains on one of
// them unless --devices asks for more).
func onCPUDevices(n int) []string {
	return []string{fmt.Sprintf("GOMLX_BACKEND=xla:cpu,devices=%d", n)}
}

// dpRun are the flags of a short data-parallel run: 512 training images in global batches of 32 (16 steps
// an epoch), and 203 test images, which split evenly over no device count but 1 (evaluation pads them).
func dpRun(out string, epochs int, extra ...string) []string {
	return append([]string{"train", "--model", "resnet20", "--width", "0.25", "--limit-train", "512", "--limit-test", "203",
		"--batch", "32", "--no-augment", "--epochs", fmt.Sprint(epochs), "--out", out}, extra...)
}

func trainOK(t *testing.T, env []string, args []string) *trainer.History {
	t.Helper()
	stdout, stderr, code := gonbgpu(t, env, args...)
	if code != 0 {
		t.Fatalf("gonbgpu %s (%s): exit %d\n%s\n%s", strings.Join(args, " "), strings.Join(env, " "), code, stdout, stderr)
	}
	i := indexOf(args, "--out")
	if i < 0 {
		t.Fatalf("trainOK needs --out: %v", args)
	}
	h, err := trainer.LoadHistory(filepath.Join(args[i+1], "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func confusionTotal(h *trainer.History) (n int64) {
	for _, row := range h.Confusion {
		for _, c := range row {
			n += c
		}
	}
	return n
}

// TestTrainOnFourDevicesFollowsOne: the same short run on 1 and on 4 XLA CPU devices (same global batch,
// seed and images) follows the same loss curve, within 3% per epoch: each step computes the same
// function of the same global batch (TestDataParallelStepEqualsOneDevice checks one step to 1e-9 in
// float64), and what remains is float32 rounding and the one-device run's fused batch norm, accumulated
// over 32 steps. Evaluation counts all 203 test images on 4 devices too, and the history records the
// backend, the devices and the time of each epoch; `gonbgpu report` compares the two runs.
func TestTrainOnFourDevicesFollowsOne(t *testing.T) {
	dir := t.TempDir()
	one, four := filepath.Join(dir, "one"), filepath.Join(dir, "four")
	h1 := trainOK(t, onCPUDevices(1), dpRun(one, 2))
	h4 := trainOK(t, onCPUDevices(4), dpRun(four, 2, "--devices", "4"))
	for i := range 2 {
		a, b := h1.Epochs[i], h4.Epochs[i]
		if d := math.Abs(a.TrainLoss-b.TrainLoss) / a.TrainLoss; d > 0.03 {
			t.Errorf("epoch %d: training loss %.4f on 4 devices, %.4f on 1: %.1f%% apart (> 3%%)", i+1, b.TrainLoss, a.TrainLoss, 100*d)
		}
		if d := math.Abs(a.TestLoss-b.TestLoss) / a.TestLoss; d > 0.05 {
			t.Errorf("epoch %d: test loss %.4f on 4 devices, %.4f on 1: %.1f%% apart (> 5%%)", i+1, b.TestLoss, a.TestLoss, 100*d)
		}
		if a.Images != 512 || b.Images != 512 || a.Steps != 16 || b.Steps != 16 || b.Seconds <= 0 {
			t.Errorf("epoch %d: one device %+v, four %+v", i+1, a, b)
		}
	}
	if n1, n4 := confusionTotal(h1), confusionTotal(h4); n1 != 203 || n4 != 203 {
		t.Errorf("test images evaluated: %d on one device, %d on four; want 203 each", n1, n4)
	}
	env := h4.Env[len(h4.Env)-1]
	if env.Backend != "xla:cpu" || env.Devices != 4 || env.Used != 4 || !strings.Contains(env.Reason, "xla:cpu") {
		t.Errorf("4-device run recorded %+v", env)
	}
	if e := h1.Env[0]; e.Backend != "xla:cpu" || e.Used != 1 {
		t.Errorf("1-device run recorded %+v", e)
	}
	stdout, stderr, code := gonbgpu(t, nil, "report", one, four)
	if code != 0 || !strings.Contains(stdout, "four") || !strings.Contains(stdout, "x") {
		t.Errorf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestTrainCheckpointsAcrossDeviceCounts: a run stopped mid-epoch on 4 devices resumes on 1, and one
// checkpointed on 1 device resumes on 2; every epoch then holds its 16 steps and 512 images, none lost
// or repeated, and the history records each run's device count.
func TestTrainCheckpointsAcrossDeviceCounts(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "four-then-one")
	p := startUntil(t, dpRun(a, 2, "--devices", "4"), func(line string) bool {
		m := progressLine.FindStringSubmatch(line)
		return m != nil && m[1] == "1" && m[2] == "6"
	}, append(onCPUDevices(4), progressEveryEnv+"=1ns")...)
	p.signal(syscall.SIGTERM)
	if code := exitCode(p.wait()); code != 143 {
		t.Fatalf("SIGTERM on 4 devices: exit %d, want 143\n%s\n%s", code, p.stdout, p.stderr)
	}
	h := trainOK(t, onCPUDevices(1), dpRun(a, 2, "--resume"))
	checkEpochs(t, "4 devices, stopped mid-epoch 1, resumed on 1", h, 2, []int{4, 1})
	if !h.Epochs[0].Interrupted {
		t.Errorf("epoch 1 was split across runs: %+v", h.Epochs[0])
	}

	b := filepath.Join(dir, "one-then-two")
	trainOK(t, onCPUDevices(1), dpRun(b, 1))
	h = trainOK(t, onCPUDevices(2), dpRun(b, 2, "--resume", "--devices", "2"))
	checkEpochs(t, "1 device, then 2", h, 2, []int{1, 2})
}

func checkEpochs(t *testing.T, what string, h *trainer.History, epochs int, used []int) {
	t.Helper()
	if len(h.Epochs) != epochs {
		t.Fatalf("%s: %d epochs, want %d", what, len(h.Epochs), epochs)
	}
	for i, e := range h.Epochs {
		if e.Epoch != i+1 || e.Steps != 16 || e.Images != 512 || math.IsNaN(e.TrainLoss) {
			t.Errorf("%s: epoch %d: %+v (want 16 steps, 512 images)", what, i+1, e)
		}
	}
	var got []int
	for _, e := range h.Env {
		got = append(got, e.Used)
	}
	if fmt.Sprint(got) != fmt.Sprint(used) {
		t.Errorf("%s: devices used by each run %v, want %v", what, got, used)
	}
}

// TestTrainDeviceCountsAndBatches: device counts and batches that cannot work are one error each, before
// any training; a training set that does not fill the last global batch drops it (the last step of an
// epoch must give every device its share), and says so in the epoch's figures.
func TestTrainDeviceCountsAndBatches(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--devices", "3", "--batch", "128"}, "batch size 128 does not split evenly over 3 devices"},
		{[]string{"train", "--devices", "99"}, "99 devices asked for, but the backend has 4"},
		{[]string{"train", "--devices", "-1"}, "number of devices must not be negative, got -1"},
		{[]string{"train", "--gpus", "5"}, "5 devices asked for, but the backend has 4"},
		{[]string{"train", "--devices", "4", "--batch", "2"}, "batch size 2 is smaller than the 4 devices"},
	} {
		oneLineError(t, c.args, stderrOf(t, onCPUDevices(4), c.args), 1, c.want)
	}
	out := filepath.Join(t.TempDir(), "partial")
	args := []string{"train", "--model", "resnet20", "--width", "0.25", "--limit-train", "500", "--limit-test", "64",
		"--batch", "32", "--epochs", "1", "--devices", "4", "--out", out}
	h := trainOK(t, onCPUDevices(4), args)
	if e := h.Epochs[0]; e.Steps != 15 || e.Images != 480 {
		t.Errorf("500 images in global batches of 32 on 4 devices: %d steps, %d images; want 15 and 480 (the last 20 dropped)", e.Steps, e.Images)
	}
}

// stderrOf runs gonbgpu, expecting exit status 1, and returns its standard error.
func stderrOf(t *testing.T, env, args []string) string {
	t.Helper()
	_, stderr, code := gonbgpu(t, env, args...)
	if code != 1 {
		t.Errorf("gonbgpu %s: exit %d, want 1\n%s", strings.Join(args, " "), code, stderr)
	}
	return stderr
}

// TestBenchCompare: `gonbgpu bench --compare` measures pure Go, XLA on the CPU and PyTorch (Debian's,
// which `make test` installs) in one run, and prints every figure of the table for each, the new cell's
// latency included.
func TestBenchCompare(t *testing.T) {
	stdout, stderr, code := gonbgpu(t, nil, "bench", "--compare", "--width", "0.25", "--batch", "8", "--steps", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"[go] train resnet20", "[xla:cpu] train resnet20", "[PyTorch] ", "new cell: go build of the cell"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "not measured") {
		t.Errorf("a column was not measured:\n%s", stdout)
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "conv3x3 fwd+bwd") || strings.HasPrefix(line, "resnet20 train step") ||
			strings.HasPrefix(line, "first step") || strings.HasPrefix(line, "new cell: start") {
			fields := strings.Fields(line)
			if n := len(fields); n < 3 || fields[n-1] == "-" && !strings.HasPrefix(line, "new cell") || fields[n-2] == "-" || fields[n-3] == "-" {
				t.Errorf("a figure is missing: %q", line)
			}
		}
	}
}

// TestDevicesShowsTheCPUPlugin: with no GPU and no GOMLX_BACKEND, gonbgpu chooses xla:cpu by itself (no
// variable set by hand: the checkout's .venv) and `gonbgpu devices` shows the plugin's path, its PJRT
// version and its device count; --config prints what GOMLX_BACKEND would take; a plugin that cannot be
// used is one line of error when asked for, and passed over for the next one when not.
func TestDevicesShowsTheCPUPlugin(t *testing.T) {
	auto := []string{"GOMLX_BACKEND="} // set but empty: the automatic choice
	stdout, stderr, code := gonbgpu(t, auto, "devices")
	if code != 0 || !strings.Contains(stdout, "backend: xla:cpu (4 device(s))") ||
		!strings.Contains(stdout, "XLA CPU plugin: ") || !strings.Contains(stdout, "libpjrt_cpu.so") ||
		!strings.Contains(stdout, "PJRT C API 0.") || !strings.Contains(stdout, "4 CPU devices") ||
		!strings.Contains(stderr, "gonbgpu: backend xla:cpu") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, code = gonbgpu(t, append(auto, "GONBGPU_CPU_DEVICES=2"), "devices", "--config")
	if code != 0 || strings.TrimSpace(stdout) != "xla:cpu,devices=2" {
		t.Errorf("--config with GONBGPU_CPU_DEVICES=2: exit %d, %q", code, stdout)
	}
	notELF := filepath.Join(t.TempDir(), "libpjrt_cpu.so")
	if err := os.WriteFile(notELF, []byte("404"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = gonbgpu(t, []string{"GOMLX_BACKEND=xla:cpu,plugin=" + notELF}, "devices")
	if code != 1 || !strings.Contains(stderr, notELF+" is not a shared library") || strings.Contains(stderr, "goroutine") {
		t.Errorf("GOMLX_BACKEND=xla:cpu with a bad plugin: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = gonbgpu(t, append(auto, "GONBGPU_XLA_CPU_PLUGIN="+notELF, "HOME="+t.TempDir(), "VIRTUAL_ENV=", "PATH=/usr/bin:/bin"),
		"devices", "--json")
	if code != 0 || !strings.Contains(stdout, `"backend": "xla:cpu"`) || strings.Contains(stdout, `"xla_cpu_plugin": "`+notELF) ||
		!strings.Contains(stdout, ".venv") {
		t.Errorf("a broken $GONBGPU_XLA_CPU_PLUGIN must be passed over for the checkout's: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, bad := range []string{"0", "-2", "65", "four"} {
		_, stderr, code := gonbgpu(t, append(auto, "GONBGPU_CPU_DEVICES="+bad), "devices")
		if code != 1 || !strings.Contains(stderr, "GONBGPU_CPU_DEVICES") {
			t.Errorf("GONBGPU_CPU_DEVICES=%s: exit %d\n%s", bad, code, stderr)
		}
	}
}

// TestTrainBF16OnXLACPU: mixed precision (bfloat16 convolutions, float32 weights) trains on xla:cpu: the
// loss falls and the accuracy rises over two epochs, as in float32.
func TestTrainBF16OnXLACPU(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bf16")
	h := trainOK(t, onCPUDevices(1), dpRun(out, 2, "--precision", "bf16"))
	if !strings.Contains(h.Model, "bf16") {
		t.Errorf("model %q: the history must say bf16", h.Model)
	}
	a, b := h.Epochs[0], h.Epochs[1]
	if !(b.TrainLoss < a.TrainLoss) || b.TestAcc < 0.3 || math.IsNaN(b.TestLoss) {
		t.Errorf("bf16 did not train: epoch 1 %+v, epoch 2 %+v", a, b)
	}
	t.Logf("bf16 on xla:cpu: train loss %.3f → %.3f, test accuracy %.3f", a.TrainLoss, b.TrainLoss, b.TestAcc)
}
