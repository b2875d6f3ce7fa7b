package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

// These tests run the real gonbgpu binary, as a user or a SLURM job would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gonbgpu-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gonbgpu")
	// Under `go test -race` the binary is built with -race too (race_test.go).
	build := exec.Command("go", append(append([]string{"build"}, raceBuildFlags...), "-o", binary, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building gonbgpu: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// small are the flags of a quick training run on the CPU.
func small(out string, epochs string) []string {
	return []string{"train", "--model", "resnet20", "--width", "0.25", "--limit-train", "1024", "--limit-test", "128",
		"--batch", "32", "--epochs", epochs, "--out", out}
}

func gonbgpu(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdout, stderr, code, _ = gonbgpuPeak(t, env, args...)
	return stdout, stderr, code
}

// gonbgpuPeak is gonbgpu that also returns the run's peak resident memory in bytes (getrusage's
// ru_maxrss). A run still going after hangGuard is killed, and fails the test.
func gonbgpuPeak(t *testing.T, env []string, args ...string) (stdout, stderr string, code int, peak int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), append([]string{"GOMLX_BACKEND=go"}, env...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gonbgpu %s still ran after %s: killed\n%s\n%s", strings.Join(args, " "), hangGuard, o.String(), e.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	noRace(t, args, e.String())
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peak = ru.Maxrss << 10 // KiB on Linux
	}
	return o.String(), e.String(), code, peak
}

// noRace fails the test if a run's standard error holds a race detector report. A binary built with
// -race (see raceBuildFlags) reports each race there when it happens; it changes the exit status (to 66)
// only when the program would have exited 0, so a run that exits 143 after a race must be caught here.
func noRace(t *testing.T, args []string, stderr string) {
	t.Helper()
	if i := strings.Index(stderr, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("gonbgpu %s: the race detector reported a data race:\n%s", strings.Join(args, " "), stderr[i:])
	}
}

func TestTrainBadInputs(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--dataset", "folder", "--data", "/nonexistent/images"}, "/nonexistent/images"},
		{[]string{"train", "--dataset", "cifar10", "--data", t.TempDir()}, "data_batch_1.bin"},
		{[]string{"train", "--model", "vgg16"}, `unknown model "vgg16"`},
		{[]string{"train", "--dataset", "mnist2"}, `unknown dataset "mnist2"`},
		{[]string{"train", "--gpus", "4"}, "pure-Go backend has one device"},
		{[]string{"train", "--devices", "4"}, "pure-Go backend has one device"},
		{[]string{"train", "--devices", "-1"}, "number of devices must not be negative, got -1"},
		{[]string{"train", "--batch", "-3"}, "must not be negative"},
		{[]string{"train", "--data", "/nonexistent/fashion"}, "/nonexistent/fashion"},
	}
	for _, c := range cases {
		_, stderr, code := gonbgpu(t, nil, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, want 1 with a message containing %q and no panic:\n%s", c.args, code, c.want, stderr)
		}
	}
}

// writeFolder makes a two-class image folder, with one corrupt file if corrupt.
func writeFolder(t *testing.T, corrupt bool) string {
	dir := t.TempDir()
	for ci, class := range []string{"circles", "squares"} {
		os.MkdirAll(filepath.Join(dir, class), 0o755)
		for i := range 12 {
			img := image.NewGray(image.Rect(0, 0, 16, 16))
			for p := range img.Pix {
				img.Pix[p] = uint8(30 + 180*ci + i)
			}
			f, _ := os.Create(filepath.Join(dir, class, string(rune('a'+i))+".png"))
			png.Encode(f, img)
			f.Close()
		}
	}
	if corrupt {
		os.WriteFile(filepath.Join(dir, "squares", "broken.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	}
	return dir
}

func TestTrainFolderSkipBad(t *testing.T) {
	dir := writeFolder(t, true)
	args := []string{"train", "--dataset", "folder", "--data", dir, "--size", "16", "--model", "resnet20", "--width", "0.25",
		"--epochs", "1", "--batch", "4", "--out", filepath.Join(t.TempDir(), "out")}
	_, stderr, code := gonbgpu(t, nil, args...)
	if code != 1 || !strings.Contains(stderr, filepath.Join(dir, "squares", "broken.png")) {
		t.Fatalf("a corrupt image must fail naming the file; exit %d:\n%s", code, stderr)
	}
	stdout, stderr, code := gonbgpu(t, nil, append(args, "--skip-bad")...)
	if code != 0 || !strings.Contains(stdout, "1 unreadable image(s) skipped") || !strings.Contains(stdout, "test accuracy") {
		t.Fatalf("--skip-bad should skip and report it; exit %d:\n%s\n%s", code, stdout, stderr)
	}
}

// progressLine is the batch-log progress line, e.g. "  epoch 2/3: 4/32 steps (12%), …".
var progressLine = regexp.MustCompile(`^\s+epoch (\d+)/\d+: (\d+)/\d+ steps`)

// startUntilStep starts a training run that prints a progress line after every step, and returns once
// step steps of epoch epoch are done: a point inside an epoch that depends on no timing.
func startUntilStep(t *testing.T, args []string, epoch, step int) *proc {
	t.Helper()
	return startUntil(t, args, func(line string) bool {
		m := progressLine.FindStringSubmatch(line)
		return m != nil && m[1] == strconv.Itoa(epoch) && m[2] == strconv.Itoa(step)
	}, progressEveryEnv+"=1ns")
}

// hangGuard is how long a gonbgpu process that a test starts and waits for may run before it is killed:
// far more than any of these runs takes, even built with -race on a loaded 2-core machine, so that only a
// hang reaches it.
const hangGuard = 10 * time.Minute

// proc is a gonbgpu process started by startUntil.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr *testutil.SyncBuffer
	exited         chan struct{} // closed once the process ended and all its output was collected
	err            error         // cmd.Wait's, set before exited is closed
}

func (p *proc) signal(sig os.Signal) { p.cmd.Process.Signal(sig) }
func (p *proc) kill()                { p.cmd.Process.Kill() }

// wait waits for the process to end and returns cmd.Wait's error; its output is then complete.
func (p *proc) wait() error {
	<-p.exited
	return p.err
}

// lineWatcher collects a process's standard output and closes found at the first whole line that
// satisfies match. Only the exec package's copying goroutine calls Write.
type lineWatcher struct {
	out     *testutil.SyncBuffer
	match   func(string) bool
	found   chan struct{}
	partial []byte // the line being written, while no line matched yet
}

func (w *lineWatcher) Write(b []byte) (int, error) {
	w.out.Write(b)
	if w.match == nil {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimSuffix(string(w.partial[:i]), "\r")
		w.partial = w.partial[i+1:]
		if w.match(line) {
			w.match, w.partial = nil, nil
			close(w.found)
			return len(b), nil
		}
	}
}

// startUntil starts `gonbgpu args…` and returns once a line of its standard output satisfies match; the
// process goes on running, its output still collected. The test's cleanup kills it if it still runs,
// and fails the test if the race detector reported anything.
func startUntil(t *testing.T, args []string, match func(string) bool, env ...string) *proc {
	t.Helper()
	p := &proc{args: args, cmd: exec.Command(binary, args...), stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{},
		exited: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), "GOMLX_BACKEND=go"), env...)
	w := &lineWatcher{out: p.stdout, match: match, found: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = w, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	guard := time.AfterFunc(hangGuard, p.kill)
	go func() {
		p.err = p.cmd.Wait()
		guard.Stop()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		<-p.exited
		noRace(t, args, p.stderr.String())
	})
	select {
	case <-w.found:
		return p
	case <-p.exited:
		select {
		case <-w.found: // the line came just before the end
			return p
		default:
		}
	}
	t.Fatalf("gonbgpu %s ended (%v) before the line waited for:\n%s\n%s", strings.Join(args, " "), p.err, p.stdout, p.stderr)
	return nil
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 0
}

// TestTrainSIGTERMAndResume kills a real run with SIGTERM in the middle of epoch 2 (what SLURM sends at
// its time limit), then resumes it: the history ends with epochs 1, 2, 3, none lost or repeated, in the
// same history file.
func TestTrainSIGTERMAndResume(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	p := startUntilStep(t, small(out, "3"), 2, 4) // 4 batches into epoch 2
	p.signal(syscall.SIGTERM)
	if code := exitCode(p.wait()); code != 143 {
		t.Fatalf("SIGTERM: exit %d, want 143\n%s\n%s", code, p.stdout, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "stopped by terminated") || !strings.Contains(p.stderr.String(), "--resume") {
		t.Errorf("the message should name the signal and say how to resume:\n%s", p.stderr)
	}
	names, _ := filepath.Glob(filepath.Join(out, "checkpoints", "ckpt-0001-0*"))
	if len(names) == 0 || strings.HasSuffix(names[len(names)-1], "-000000") {
		t.Fatalf("want a mid-epoch-2 checkpoint, got %v", names)
	}
	h, err := trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil || len(h.Epochs) != 1 {
		t.Fatalf("history after SIGTERM: %v %v", h, err)
	}

	resumed, errOut, code := gonbgpu(t, nil, append(small(out, "3"), "--resume")...)
	if code != 0 || !strings.Contains(resumed, "1 epoch(s) done") || !strings.Contains(resumed, "batch(es) into epoch 2") {
		t.Fatalf("resume: exit %d:\n%s\n%s", code, resumed, errOut)
	}
	h, err = trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil || len(h.Epochs) != 3 {
		t.Fatalf("history after resume: %v", err)
	}
	for i, e := range h.Epochs {
		if e.Epoch != i+1 || e.Steps != 32 || e.Images != 1024 {
			t.Errorf("epoch %d: %+v", i+1, e)
		}
	}
	if !h.Epochs[1].Interrupted || len(h.Env) != 2 {
		t.Errorf("epoch 2 should be marked interrupted and there should be 2 runs: %+v, %d", h.Epochs[1], len(h.Env))
	}
}

// TestTrainSIGINT stops a run with SIGINT (Ctrl-C) in its first epoch: it saves, says so and how to
// resume, and exits 130 as a shell expects of a process ended by Ctrl-C.
func TestTrainSIGINT(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	p := startUntilStep(t, small(out, "1"), 1, 2) // 2 batches into epoch 1
	p.signal(syscall.SIGINT)
	if code := exitCode(p.wait()); code != 130 {
		t.Fatalf("SIGINT: exit %d, want 130\n%s\n%s", code, p.stdout, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "stopped by interrupt after 0 complete epoch(s)") || !strings.Contains(p.stderr.String(), "--resume") {
		t.Errorf("the message should name the signal and say how to resume:\n%s", p.stderr)
	}
	if names, _ := filepath.Glob(filepath.Join(out, "checkpoints", "ckpt-0000-0*")); len(names) == 0 {
		t.Errorf("want a mid-epoch-1 checkpoint after SIGINT")
	}
}

// TestTrainSIGKILLLosesAtMostAnEpoch kills a run with SIGKILL (no chance to save) in epoch 2: resuming
// starts again from the end of epoch 1.
func TestTrainSIGKILLLosesAtMostAnEpoch(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	p := startUntilStep(t, small(out, "2"), 2, 4) // 4 batches into epoch 2
	p.kill()
	p.wait()
	resumed, errOut, code := gonbgpu(t, nil, append(small(out, "2"), "--resume")...)
	if code != 0 || !strings.Contains(resumed, "resuming from") || !strings.Contains(resumed, "1 epoch(s) done") {
		t.Fatalf("resume after SIGKILL: exit %d:\n%s\n%s", code, resumed, errOut)
	}
	h, err := trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil || len(h.Epochs) != 2 || h.Epochs[1].Epoch != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
}

// TestSlurmTemplates checks the templates' syntax, and runs the job body with simulated SLURM and CUDA
// variables: the history must record the job.
func TestSlurmTemplates(t *testing.T) {
	scripts, _ := filepath.Glob("../../install/slurm/*")
	if len(scripts) < 5 {
		t.Fatalf("templates missing: %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
	for _, n := range []string{"1", "2", "4"} {
		data, _ := os.ReadFile("../../install/slurm/train-" + n + "gpu.sbatch")
		if !strings.Contains(string(data), "#SBATCH --gres=gpu:"+n) || !strings.Contains(string(data), "--signal=B:TERM@") {
			t.Errorf("train-%sgpu.sbatch lacks its GPU request or the early SIGTERM", n)
		}
	}
	out := filepath.Join(t.TempDir(), "job")
	cmd := exec.Command("bash", "../../install/slurm/train-job.sh")
	cmd.Env = append(os.Environ(), "GOMLX_BACKEND=go", "GONBGPU="+binary, "GONBGPU_DIR="+t.TempDir(),
		"SLURM_JOB_ID=424242", "SLURM_JOB_NAME=gonbgpu-train-1gpu", "SLURMD_NODENAME=d1001", "SLURM_GPUS_ON_NODE=1",
		"SLURM_SUBMIT_DIR="+t.TempDir(), "CUDA_VISIBLE_DEVICES=", "MODEL=resnet20", "EPOCHS=1", "BATCH=32", "OUT="+out,
		"EXTRA_ARGS=--width 0.25 --limit-train 64 --limit-test 32")
	// By default a GPU job requires the GPU: here (no GPU) it must stop at start-up, saying why: before
	// the run is prepared (whose summary ends with the "output:" line), let alone trained.
	noGPU := exec.Command("bash", "../../install/slurm/train-job.sh")
	noGPUOut := filepath.Join(t.TempDir(), "nogpu")
	noGPU.Env = append(slices.Clone(cmd.Env), "GOMLX_BACKEND=", "OUT="+noGPUOut)
	failed, err := noGPU.CombinedOutput()
	noRace(t, noGPU.Args, string(failed))
	_, histErr := os.Stat(filepath.Join(noGPUOut, "history.json"))
	if err == nil || !strings.Contains(string(failed), "the GPU backend is required (--require-gpu, which GONBGPU_REQUIRE_GPU=1 sets)") ||
		histErr == nil || strings.Contains(string(failed), "output:") || strings.Contains(string(failed), gpu.RequireGPUOption) {
		t.Errorf("a GPU job without a usable GPU must fail at start-up with the reason: err %v\n%s", err, failed)
	}
	cmd.Env = append(cmd.Env, "GONBGPU_REQUIRE_GPU=0") // this machine has no GPU: allow the CPU
	stdout, err := cmd.CombinedOutput()
	noRace(t, cmd.Args, string(stdout))
	if err != nil {
		t.Fatalf("train-job.sh: %v\n%s", err, stdout)
	}
	if !strings.Contains(string(stdout), "job 424242 on d1001") {
		t.Errorf("the job header is missing:\n%s", stdout)
	}
	// A job on the CPU says so, once, with why (here GOMLX_BACKEND=go).
	if n := strings.Count(string(stdout), "SLURM job 424242 computes on the CPU (backend go), not a GPU: GOMLX_BACKEND=go is set"); n != 1 {
		t.Errorf("want the job's CPU notice once, got %d:\n%s", n, stdout)
	}
	h, err := trainer.LoadHistory(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := h.Env[0].SLURM
	if s["SLURM_JOB_ID"] != "424242" || s["SLURMD_NODENAME"] != "d1001" || s["SLURM_GPUS_ON_NODE"] != "1" {
		t.Errorf("history does not record the SLURM job: %v", s)
	}
}

func TestDevicesVerdict(t *testing.T) {
	if err := devicesVerdict(&platform.Choice{Name: "go", Reason: "no CUDA plugin found"}); err != nil {
		t.Fatalf("no GPU, no plugin: exit 0, got %v", err)
	}
	err := devicesVerdict(&platform.Choice{Name: "go", Warning: "an NVIDIA GPU is visible (NVML sees 1 GPU) but …"})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "NVML sees 1 GPU") {
		t.Fatalf("a visible GPU unused must exit non-zero with the reason, got %v", err)
	}
}

func TestRequireGPUDefault(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	// The environment is the lookup's alone: the process's own is not read.
	t.Setenv("SLURM_GPUS_ON_NODE", "2")
	if requireGPUDefault(env()) {
		t.Error("the process's environment leaked into the lookup's")
	}
	job := []string{"SLURM_GPUS_ON_NODE", "2"}
	if !requireGPUDefault(env(job...)) {
		t.Error("a SLURM job with GPUs must require the GPU by default")
	}
	if requireGPUDefault(env(append(job, gpu.RequireGPUEnv, "0")...)) {
		t.Errorf("%s=0 must allow the CPU", gpu.RequireGPUEnv)
	}
	if requireGPUDefault(env(append(job, gpu.BackendEnv, "go")...)) {
		t.Error("GOMLX_BACKEND=go chosen by hand must not be refused")
	}
	if requireGPUDefault(env()) {
		t.Error("outside SLURM GPU jobs the CPU is allowed")
	}
}

// TestProgressEvery: $GONBGPU_PROGRESS_EVERY is read here, at the edge: unset is the trainer's default
// (0), a duration is taken, and anything else is one error naming the variable and the value.
func TestProgressEvery(t *testing.T) {
	lookup := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == progressEveryEnv && v != "" }
	}
	if d, err := progressEvery(lookup("")); d != 0 || err != nil {
		t.Errorf("unset: %v, %v", d, err)
	}
	if d, err := progressEvery(lookup("10s")); d != 10*time.Second || err != nil {
		t.Errorf("10s: %v, %v", d, err)
	}
	for _, bad := range []string{"10", "-1s", "soon"} {
		if _, err := progressEvery(lookup(bad)); err == nil || !strings.Contains(err.Error(), progressEveryEnv+`="`+bad+`"`) {
			t.Errorf("%q: want an error naming %s and the value, got %v", bad, progressEveryEnv, err)
		}
	}
}
