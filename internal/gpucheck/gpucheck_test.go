package gpucheck

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/bench"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

const script = "../../scripts/gpu-check.sh"

// deviceSeconds is what one run may take on the GPU machine: 8 minutes (the device tool allows 10 a
// command and 15 a session, the machine's start included).
const deviceSeconds = 480

// TestPlanFitsTheBudget: the parts run in the order that tells most per second, their limits with the
// reserves add up to the budget at most, the budget fits in 8 minutes, and the bench's settings are
// bench.DefaultTrainOptions(true)'s on the twins' model (a ResNet-18); a budget too small is refused.
func TestPlanFitsTheBudget(t *testing.T) {
	out, err := exec.Command("bash", script, "plan").CombinedOutput()
	if err != nil {
		t.Fatalf("gpu-check.sh plan: %v\n%s", err, out)
	}
	var parts []string
	budget, total, sum := 0, 0, 0
	settings := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch {
		case f[0] == "budget":
			budget = atoi(t, f[1])
		case f[0] == "reserve":
			sum += atoi(t, f[2])
		case f[0] == "part":
			parts = append(parts, f[1])
			sum += atoi(t, f[2])
		case f[0] == "total":
			total = atoi(t, f[1])
		case f[0] == "bench":
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				settings[k] = v
			}
		}
	}
	want := []string{"devices", "compile-smoke", "tests", "data-parallel", "bench", "torch-twin", "jax-twin", "accuracy"}
	if !slices.Equal(parts, want) {
		t.Errorf("parts: want %v, got %v", want, parts)
	}
	if sum != total || sum > budget || budget > deviceSeconds-10 {
		t.Errorf("limits and reserves add up to %d s (plan says %d) against a budget of %d s, which must leave 10 s of %d s", sum, total, budget, deviceSeconds)
	}
	d := bench.DefaultTrainOptions(true)
	for k, v := range map[string]string{"model": d.Model, "batch": strconv.Itoa(d.Batch), "size": strconv.Itoa(d.Size),
		"channels": strconv.Itoa(d.Channels), "layout": "NHWC"} {
		if settings[k] != v {
			t.Errorf("the bench's %s: the script says %q, the bench %q", k, settings[k], v)
		}
	}
	if resnet.DefaultGPUModel != "resnet18" || settings["model"] != "resnet18" {
		t.Errorf("the twins train a ResNet-18; the bench's GPU model is %s, the script's %s", resnet.DefaultGPUModel, settings["model"])
	}
	cmd := exec.Command("bash", script, "plan")
	cmd.Env = append(os.Environ(), fmt.Sprintf("GPU_CHECK_BUDGET=%d", total-1))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), fmt.Sprintf("over the budget of %d s", total-1)) {
		t.Errorf("a budget under the limits must be refused: %v\n%s", err, out)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("plan: %q is not a number", s)
	}
	return n
}

// fakeGonbgpu plays a node whose CUDA plugin cannot load: devices fails (exit 3, a library missing),
// the bench and training run (on the CPU), training on 2 devices.
const fakeGonbgpu = `#!/bin/bash
case "$1 $2" in
  "devices --plugins")
    echo "gonbgpu devices    backend: go (1 device(s))"
    echo "gonbgpu: WARNING: running on the CPU, not the GPU (much slower). libcudnn.so.9: cannot open shared object file" >&2
    exit 3 ;;
  "devices --config") echo go ;;
  "devices --json") echo '{"cuda_plugins_found":[{"Path":"/nonexistent/xla_cuda_plugin.so"}]}' ;;
  bench*) echo "train resnet: 1234.5 img/s" ;;
  train*) echo "devices:  2 × cpu"; echo "test accuracy 0.91" ;;
  *) echo "fake gonbgpu: $*" >&2; exit 2 ;;
esac
`

// TestRunFailingPartStillSummarizes runs the whole script on fake binaries: the devices part fails, a test
// binary fails, and still every part runs in order, the summary says which failed, the diagnosis shows
// what a person needs (the plugin check with XLA's logs, the missing library, readelf, the nvidia/ folders,
// JAX's view), the data-parallel part is named by the device count train used, and the exit status is 1.
func TestRunFailingPartStillSummarizes(t *testing.T) {
	tmp := t.TempDir()
	dev := filepath.Join(tmp, "device")
	if err := os.MkdirAll(filepath.Join(dev, "fashion-mnist"), 0o755); err != nil {
		t.Fatal(err)
	}
	bins := map[string]string{
		"gonbgpu":                fakeGonbgpu,
		"tests/gpu.test":         "#!/bin/bash\necho PASS\n",
		"tests/vision_conv.test": "#!/bin/bash\necho 'conv on the GPU: wrong result'; exit 1\n",
	}
	writeTarXZ(t, filepath.Join(dev, "bins.tar.xz"), bins)
	outDir := filepath.Join(tmp, "out")
	os.MkdirAll(outDir, 0o755)
	os.MkdirAll(filepath.Join(tmp, "tmp"), 0o755)
	cmd := exec.Command("bash", script, "run")
	cmd.Env = append(os.Environ(), "GPU_CHECK_DIR="+dev, "TMPDIR="+filepath.Join(tmp, "tmp"), "OUT="+outDir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("want exit status 1, got %v\n%s", err, out)
	}
	s := string(out)
	for _, w := range []string{
		"== diagnosis (a GPU part failed)", "TF_CPP_MIN_LOG_LEVEL=0", "libcudnn.so.9: cannot open shared object file",
		"readelf -d", "/nonexistent/xla_cuda_plugin.so", "nvidia/ folders found", "what JAX sees on the same Python",
		"== summary", "FAIL vision_conv", "ok   gpu", "1234.5 img/s", "data-parallel-2dev: test accuracy 0.91", "accuracy: test accuracy 0.91", "(none: no site-packages/nvidia/*",
		"bench and twins: resnet18, batch 256, 32x32x3, NHWC",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	summary := s[strings.LastIndex(s, "== summary"):]
	var rows []string
	for _, line := range strings.Split(summary, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (strings.HasPrefix(f[1], "ok") || strings.HasPrefix(f[1], "FAIL") || strings.HasPrefix(f[1], "SKIPPED")) {
			rows = append(rows, f[0]+" "+f[1])
		}
	}
	want := []string{"devices FAIL", "compile-smoke ok", "tests FAIL", "data-parallel-2dev ok", "bench ok",
		"torch-twin SKIPPED", "jax-twin SKIPPED", "accuracy ok"}
	if !slices.Equal(rows, want) {
		t.Errorf("summary rows: want %q, got %q\n%s", want, rows, summary)
	}
	if !strings.Contains(summary, "parts not ok: 4") {
		t.Errorf("summary count:\n%s", summary)
	}
	if log, err := os.ReadFile(filepath.Join(outDir, "gpu-check.log")); err != nil || !bytes.Contains(log, []byte("parts not ok: 4")) {
		t.Errorf("$OUT/gpu-check.log must hold the summary: %v", err)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// writeTarXZ writes files (executable) into an xz-compressed tar, as `gpu-check.sh build` packs them.
func writeTarXZ(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	xz := exec.Command("xz", "-c")
	xz.Stdin = &buf
	data, err := xz.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
