package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// TestPickRunsTheCompileCheckAndKeepsVerdicts runs Pick's real child check (this test binary again,
// loading the plugin, compiling and running the convolution, dot, reduction and exp graph in float32 and
// bf16 and comparing with the pure-Go backend) with the pinned XLA CPU plugin standing in for a CUDA one
// (the check's platform set to "cpu"; nothing else differs). A plugin whose client is not of the platform
// wanted, and a fake plugin whose table passes the PJRT probe but crashes go-xla, are refused with one
// line each; the good one is picked. Every verdict, failures included, is kept per plugin, driver and GPU
// model: picking again starts no child, and another GPU model checks again.
func TestPickRunsTheCompileCheckAndKeepsVerdicts(t *testing.T) {
	crashing := buildFakePJRTPlugin(t, "0", "104", "1096") // a full-size table of null functions
	good := pinnedCPUPlugin(t)
	isolate(t)
	// A plugin of another platform: the same library, copied, with the check wanting "cuda".
	other := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, data, 0o755); err != nil {
		t.Fatal(err)
	}

	saved, savedPlatform, savedDriver, savedMachine := checkPlugin, cudaPlatform, cudaDriver, thisMachine
	defer func() {
		checkPlugin, cudaPlatform, cudaDriver, thisMachine = saved, savedPlatform, savedDriver, savedMachine
	}()
	children := map[string]int{}
	checkPlugin = func(platform, path string, env ...string) (xlacpu.Report, error) {
		children[path]++
		if path == other {
			platform = "cuda"
		}
		return saved(platform, path, env...)
	}
	cudaPlatform, cudaDriver = "cpu", "libm.so.6" // the CPU plugin stands in for CUDA's, libm for the driver
	machine := Machine{Driver: "570.86.15", GPU: "Tesla V100-SXM2-32GB"}
	thisMachine = func() Machine { return machine }

	s := &Search{Found: []*Plugin{{Path: other, Source: "jax"}, {Path: crashing, Source: "jax"}, {Path: good, Source: "jax"}}}
	p, refused := s.Pick(0, true)
	if p == nil || p.Path != good {
		t.Fatalf("the good plugin must be picked after the bad ones: %v; refused: %s", p, refused)
	}
	for _, want := range []string{
		other + ` is refused: its check (compile and run a convolution, a dot, a reduction and an exp) failed: it is a "cpu" plugin, not a "cuda" one`,
		crashing + " is refused: its check",
		"SIGSEGV",
	} {
		if !strings.Contains(refused, want) {
			t.Errorf("refusals lack %q:\n%s", want, strings.ReplaceAll(refused, "; ", "\n"))
		}
	}
	if strings.Count(refused, "; ") != 1 {
		t.Errorf("want one line per refused plugin:\n%s", refused)
	}
	cache := filepath.Join(os.Getenv("GONBGPU_CACHE_DIR"), "plugin-cuda.json")
	kept := map[string]xlacpu.Report{}
	if data, err := os.ReadFile(cache); err != nil || json.Unmarshal(data, &kept) != nil || len(kept) != 3 {
		t.Fatalf("want 3 verdicts in %s, got %d (%v)", cache, len(kept), err)
	}
	for key, r := range kept {
		if !strings.Contains(key, "driver 570.86.15|gpu Tesla V100-SXM2-32GB") {
			t.Errorf("verdict key %q lacks the driver and GPU model", key)
		}
		if strings.HasPrefix(key, good+"|") != r.Usable() {
			t.Errorf("verdict %q: %+v", key, r)
		}
	}

	// Again: every verdict is read back, no child runs.
	before := len(children)
	for k := range children {
		children[k] = 0
	}
	if p2, refused2 := s.Pick(0, true); p2 == nil || p2.Path != good || refused2 != refused {
		t.Fatalf("second pick: %v, %q", p2, refused2)
	}
	for path, n := range children {
		if n != 0 {
			t.Errorf("%s was checked again (%d children) though its verdict was kept", path, n)
		}
	}
	// Another GPU model: checked again.
	machine.GPU = "NVIDIA H100 80GB HBM3"
	if p3, _ := s.Pick(0, true); p3 == nil || p3.Path != good || len(children) != before || children[good] != 1 {
		t.Fatalf("another GPU model must check again: %v, children %v", p3, children)
	}
}

// TestThisMachine reads the driver version and GPU models as the NVIDIA kernel module writes them.
func TestThisMachine(t *testing.T) {
	dir := t.TempDir()
	saved := nvidiaProc
	defer func() { nvidiaProc = saved }()
	nvidiaProc = dir
	if m := ThisMachine(); m != (Machine{}) {
		t.Fatalf("no driver: %+v", m)
	}
	write := func(rel, text string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Thu Jan  9 20:43:41 UTC 2025\nGCC version:  gcc version 8.5.0\n")
	for i, model := range []string{"Tesla V100-SXM2-32GB", "Tesla P100-PCIE-16GB", "Tesla V100-SXM2-32GB"} {
		write(filepath.Join("gpus", "0000:0"+string(rune('1'+i))+":00.0", "information"),
			"Model: \t\t "+model+"\nIRQ:   \t\t 42\nGPU UUID: \t GPU-x\n")
	}
	if m := ThisMachine(); m.Driver != "570.86.15" || m.GPU != "Tesla P100-PCIE-16GB+Tesla V100-SXM2-32GB" {
		t.Fatalf("got %+v", m)
	}
}
