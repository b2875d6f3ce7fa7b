package gpu

import (
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

func TestChooseRules(t *testing.T) {
	p := &plugin.Plugin{Path: "/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so", Source: "jax", Where: "$CONDA_PREFIX"}
	with := &plugin.Search{Found: []*plugin.Plugin{p}, Searched: []string{"$CONDA_PREFIX (/x): /x/lib"}}
	without := &plugin.Search{Searched: []string{"go-xla install: /a", "~/.local: /b"}}
	twoGPUs := nvidia.Presence{Count: 2, How: "NVML sees 2 visible GPU(s)"}
	noGPU := nvidia.Presence{Count: 0, How: "no /dev/nvidia* device files"}
	checkPlugins = false
	defer func() { checkPlugins = true }()

	c := pick("", false, with, twoGPUs)
	if c.Name != "xla:cuda" || c.Config != "xla:"+p.Path || c.Explicit {
		t.Errorf("plugin+GPU: %+v", c)
	}
	c = pick("", false, with, noGPU)
	if c.Name != "go" || !strings.Contains(c.Reason, "no NVIDIA GPU is visible") {
		t.Errorf("plugin without GPU: %+v", c)
	}
	c = pick("", false, without, twoGPUs)
	if c.Name != "go" || !strings.Contains(c.Reason, "no CUDA plugin found in go-xla install, ~/.local") {
		t.Errorf("no plugin: %+v", c)
	}
	c = pick("go", true, with, twoGPUs)
	if c.Config != "go" || !c.Explicit || !strings.Contains(c.Reason, "GOMLX_BACKEND=go") {
		t.Errorf("env wins: %+v", c)
	}
	c = pick("xla:cuda,preallocate=true", true, with, twoGPUs)
	if c.Config != "xla:"+p.Path+",preallocate=true" {
		t.Errorf("xla:cuda should use the found plugin and keep options: %+v", c)
	}
	c = pick("", true, without, noGPU) // GOMLX_BACKEND set but empty: ignored
	if c.Explicit {
		t.Errorf("empty GOMLX_BACKEND must not count: %+v", c)
	}
}

// TestChooseNVMLDoesNotVetoCUDA: a plugin and an openable /dev/nvidia* choose CUDA whatever NVML says, and
// GPUs that CUDA_VISIBLE_DEVICES hides give a quiet CPU choice.
func TestChooseNVMLDoesNotVetoCUDA(t *testing.T) {
	p := &plugin.Plugin{Path: "/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so", Source: "jax", Where: "~/.local", CUDA: "13"}
	with := &plugin.Search{Found: []*plugin.Plugin{p}}
	checkPlugins = false
	defer func() { checkPlugins = true }()
	nvmlBlind := nvidia.Presence{Count: 0, DeviceFiles: 1, How: "NVML sees 0 GPU(s) this process can use"}
	if c := pick("", false, with, nvmlBlind); c.Name != "xla:cuda" || !strings.Contains(c.Reason, "CUDA is tried") {
		t.Fatalf("a plugin and an openable /dev/nvidia* must choose CUDA whatever NVML says: %+v", c)
	}
	hidden := nvidia.Presence{Hidden: true, DeviceFiles: 1, How: `CUDA_VISIBLE_DEVICES="" hides all GPUs`}
	if c := pick("", false, with, hidden); c.Name != "go" || c.Warning != "" {
		t.Fatalf("hidden GPUs: want a quiet CPU choice, got %+v", c)
	}
}

// TestChooseSaysWhyAPluginWasRefused: a CUDA 13 plugin on a CUDA 12.2 driver is refused, the refusal is
// the reason, and with a GPU there it is a loud warning.
func TestChooseSaysWhyAPluginWasRefused(t *testing.T) {
	only13 := &plugin.Search{Found: []*plugin.Plugin{{Path: "/a/xla_cuda13/xla_cuda_plugin.so", Source: "jax", CUDA: "13"}}}
	checkPlugins = false
	defer func() { checkPlugins = true }()
	c := pick("", false, only13, nvidia.Presence{Count: 1, How: "NVML sees 1 GPU", DriverCUDA: 12020})
	if c.Name != "go" || !strings.Contains(c.Reason, "needs CUDA 13") || c.Warning == "" || !strings.Contains(c.Warning, "--plugins") {
		t.Fatalf("choice: %+v", c)
	}
}

// noCPU is a machine without XLA's CPU plugin.
func noCPU(string) *cpuPlugin {
	return &cpuPlugin{Why: "no XLA CPU plugin found in gonbgpu's .venv, ~/.local"}
}

// pick is choose on a machine without XLA's CPU plugin.
func pick(env string, set bool, s *plugin.Search, g nvidia.Presence) decision {
	d, err := choose(env, set, s, g, noCPU)
	if err != nil {
		panic(err)
	}
	return d
}

// withCPU is a machine whose XLA CPU plugin passed its check; asked records the explicit paths asked for.
func withCPU(asked *[]string) func(string) *cpuPlugin {
	return func(path string) *cpuPlugin {
		*asked = append(*asked, path)
		p := &xlacpu.Plugin{Path: "/h/gonbgpu/.venv/lib/python3.11/site-packages/fastatomstruct_xla_cpu/libpjrt_cpu.so",
			Package: "fastatomstruct-xla-cpu", Version: "2026.6.23"}
		if path != "" {
			p = &xlacpu.Plugin{Path: path}
		}
		return &cpuPlugin{Plugin: p, Report: xlacpu.Report{API: pjrtapi.API{Minor: 106}, Platform: "cpu", Devices: 4}}
	}
}

// TestChooseXLAOnTheCPU: with no GPU to use, XLA's CPU plugin is the default when it works, the pure-Go
// backend otherwise, each saying why; GOMLX_BACKEND=xla:cpu (with devices=N, plugin=PATH) and =go force one.
func TestChooseXLAOnTheCPU(t *testing.T) {
	cudaPlugin := &plugin.Plugin{Path: "/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so", Source: "jax", Where: "$CONDA_PREFIX"}
	with := &plugin.Search{Found: []*plugin.Plugin{cudaPlugin}}
	without := &plugin.Search{Searched: []string{"go-xla install: /a"}}
	twoGPUs := nvidia.Presence{Count: 2, How: "NVML sees 2 visible GPU(s)"}
	noGPU := nvidia.Presence{How: "no /dev/nvidia* device files"}
	checkPlugins = false
	defer func() { checkPlugins = true }()
	var asked []string
	try := func(env string, set bool, s *plugin.Search, g nvidia.Presence, cpu func(string) *cpuPlugin) decision {
		t.Helper()
		d, err := choose(env, set, s, g, cpu)
		if err != nil {
			t.Fatalf("GOMLX_BACKEND=%q: %v", env, err)
		}
		return d
	}

	d := try("", false, without, noGPU, withCPU(&asked))
	if d.Name != "xla:cpu" || d.Config != "xla:cpu" || d.Explicit || !d.CPU.usable() ||
		!strings.Contains(d.Reason, "no CUDA plugin found") || !strings.Contains(d.Reason, "XLA's CPU plugin") ||
		!strings.Contains(d.Reason, "PJRT C API 0.106, 4 CPU devices") {
		t.Errorf("no GPU, CPU plugin: %+v", d)
	}
	if d := try("", false, with, twoGPUs, withCPU(&asked)); d.Name != "xla:cuda" {
		t.Errorf("a CUDA plugin and a GPU still win: %+v", d)
	}
	if d := try("", false, with, noGPU, withCPU(&asked)); d.Name != "xla:cpu" || !strings.Contains(d.Reason, "no NVIDIA GPU is visible") {
		t.Errorf("CUDA plugin, no GPU: %+v", d)
	}
	d = try("", false, without, twoGPUs, withCPU(&asked))
	if d.Name != "xla:cpu" || d.Warning == "" || !strings.Contains(d.Warning, "NVIDIA GPU is visible") {
		t.Errorf("a GPU but no CUDA plugin: XLA on the CPU, loudly: %+v", d)
	}
	d = try("", false, without, noGPU, noCPU)
	if d.Name != "go" || !strings.Contains(d.Reason, "no XLA CPU plugin found") || !strings.Contains(d.Reason, "pure-Go") {
		t.Errorf("neither plugin: %+v", d)
	}
	d = try("go", true, without, noGPU, withCPU(&asked))
	if d.Name != "go" || !d.Explicit || !strings.Contains(d.Reason, "GOMLX_BACKEND=go") {
		t.Errorf("GOMLX_BACKEND=go forces the pure-Go backend: %+v", d)
	}
	d = try("xla:cpu,devices=2", true, with, twoGPUs, withCPU(&asked))
	if d.Name != "xla:cpu" || !d.Explicit || d.Config != "xla:cpu,devices=2" || d.CPU.Devices != 2 ||
		!strings.Contains(d.Reason, "GOMLX_BACKEND=xla:cpu,devices=2 is set") {
		t.Errorf("GOMLX_BACKEND=xla:cpu,devices=2 forces XLA on the CPU, even with a GPU: %+v", d)
	}
	asked = nil
	d = try("xla:cpu,plugin=/opt/p/libpjrt_cpu.so", true, without, noGPU, withCPU(&asked))
	if d.CPU.Plugin.Path != "/opt/p/libpjrt_cpu.so" || len(asked) != 1 || asked[0] != "/opt/p/libpjrt_cpu.so" {
		t.Errorf("plugin=PATH: %+v (asked %q)", d, asked)
	}
	d = try("xla:cpu", true, without, noGPU, noCPU)
	if d.Name != "xla:cpu" || d.CPU.usable() {
		t.Errorf("GOMLX_BACKEND=xla:cpu without a plugin stays xla:cpu (and fails to create, loudly): %+v", d)
	}
	if _, _, err := create(d, Options{}); err == nil || !strings.Contains(err.Error(), "no XLA CPU plugin found") ||
		!strings.Contains(err.Error(), "requirements.txt") {
		t.Errorf("creating xla:cpu without a plugin: %v", err)
	}
	for _, bad := range []string{"xla:cpu,devices=0", "xla:cpu,devices=-1", "xla:cpu,devices=999", "xla:cpu,threads=2"} {
		if _, err := choose(bad, true, without, noGPU, withCPU(&asked)); err == nil || !strings.Contains(err.Error(), "GOMLX_BACKEND") {
			t.Errorf("%s: want one error naming GOMLX_BACKEND, got %v", bad, err)
		}
	}
}

// TestChooseByComputeCapability: with JAX's CUDA 12 and CUDA 13 plugins both installed, a P100 or V100
// takes CUDA 12 even on an R580 driver, an A100 or H100 takes CUDA 13 there and CUDA 12 on an older driver;
// with only the CUDA 13 plugin a V100 computes on the CPU, saying that CUDA 13 dropped sm_70 and that
// jax[cuda12] is what to install, also in the error of a job that requires the GPU.
func TestChooseByComputeCapability(t *testing.T) {
	p13 := &plugin.Plugin{Path: "/s/jax_plugins/xla_cuda13/xla_cuda_plugin.so", Source: "jax", CUDA: "13"}
	p12 := &plugin.Plugin{Path: "/s/jax_plugins/xla_cuda12/xla_cuda_plugin.so", Source: "jax", CUDA: "12"}
	both := &plugin.Search{Found: []*plugin.Plugin{p13, p12}}
	checkPlugins = false
	defer func() { checkPlugins = true }()
	for _, c := range []struct {
		gpu    string
		cc     int
		driver int
		want   *plugin.Plugin
	}{
		{"Tesla P100-PCIE-12GB", 60, 13000, p12}, {"Tesla V100-SXM2-32GB", 70, 13000, p12},
		{"Tesla V100-SXM2-32GB", 70, 12020, p12}, {"NVIDIA A100-SXM4-80GB", 80, 13000, p13},
		{"NVIDIA A100-SXM4-80GB", 80, 12020, p12}, {"NVIDIA H100 80GB HBM3", 90, 13000, p13},
		{"NVIDIA H100 80GB HBM3", 90, 12040, p12},
	} {
		g := nvidia.Presence{Count: 1, How: "NVML sees 1 GPU", DeviceFiles: 1, DriverCUDA: c.driver, CC: c.cc, GPUName: c.gpu}
		d := pick("", false, both, g)
		if d.Name != "xla:cuda" || d.Plugin != c.want {
			t.Errorf("%s (sm_%d), driver CUDA %d: want %s, got %+v", c.gpu, c.cc, c.driver, c.want.Path, d)
		}
	}

	only13 := &plugin.Search{Found: []*plugin.Plugin{p13}}
	v100 := nvidia.Presence{Count: 1, How: "NVML sees 1 GPU", DeviceFiles: 1, DriverCUDA: 13000, CC: 70, GPUName: "Tesla V100-SXM2-32GB"}
	d := pick("", false, only13, v100)
	for _, w := range []string{"xla_cuda13", "CUDA 13 supports compute capability 7.5 (sm_75) and newer", "Tesla V100-SXM2-32GB (sm_70)"} {
		if !strings.Contains(d.Reason, w) {
			t.Errorf("reason lacks %q: %q", w, d.Reason)
		}
	}
	if d.Name == "xla:cuda" || !strings.Contains(d.Warning, `Tesla V100-SXM2-32GB (sm_70) needs CUDA 12`) ||
		!strings.Contains(d.Warning, `python3 -m pip install --user "jax[cuda12]"`) {
		t.Errorf("a V100 with only CUDA 13's plugin: %+v", d)
	}
	err := (&RequiredGPUError{Name: d.Name, Reason: d.Reason, Fix: d.Advice}).Error()
	if !strings.Contains(err, `To fix: Tesla V100-SXM2-32GB (sm_70) needs CUDA 12`) || !strings.Contains(err, `"jax[cuda12]"`) {
		t.Errorf("the required-GPU error must say what to install for a V100: %s", err)
	}
	// A plugin of unknown CUDA (PJRT_PLUGIN_LIBRARY_PATH's) is not refused by compute capability.
	mine := &plugin.Search{Found: []*plugin.Plugin{{Path: "/opt/my_pjrt.so", Source: "PJRT_PLUGIN_LIBRARY_PATH"}}}
	if d := pick("", false, mine, v100); d.Name != "xla:cuda" {
		t.Errorf("a plugin of unknown CUDA on a V100: %+v", d)
	}
}
