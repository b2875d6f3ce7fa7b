package gpu

import (
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
)

func TestChooseRules(t *testing.T) {
	p := &plugin.Plugin{Path: "/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so", Source: "jax", Where: "$CONDA_PREFIX"}
	with := &plugin.Search{Found: []*plugin.Plugin{p}, Searched: []string{"$CONDA_PREFIX (/x): /x/lib"}}
	without := &plugin.Search{Searched: []string{"go-xla install: /a", "~/.local: /b"}}
	twoGPUs := nvidia.Presence{Count: 2, How: "NVML sees 2 visible GPU(s)"}
	noGPU := nvidia.Presence{Count: 0, How: "no /dev/nvidia* device files"}
	checkPlugins = false
	defer func() { checkPlugins = true }()

	c := choose("", false, with, twoGPUs)
	if c.Name != "xla:cuda" || c.Config != "xla:"+p.Path || c.Explicit {
		t.Errorf("plugin+GPU: %+v", c)
	}
	c = choose("", false, with, noGPU)
	if c.Name != "go" || !strings.Contains(c.Reason, "no NVIDIA GPU is visible") {
		t.Errorf("plugin without GPU: %+v", c)
	}
	c = choose("", false, without, twoGPUs)
	if c.Name != "go" || !strings.Contains(c.Reason, "no CUDA plugin found in go-xla install, ~/.local") {
		t.Errorf("no plugin: %+v", c)
	}
	c = choose("go", true, with, twoGPUs)
	if c.Config != "go" || !c.Explicit || !strings.Contains(c.Reason, "GOMLX_BACKEND=go") {
		t.Errorf("env wins: %+v", c)
	}
	c = choose("xla:cuda,preallocate=true", true, with, twoGPUs)
	if c.Config != "xla:"+p.Path+",preallocate=true" {
		t.Errorf("xla:cuda should use the found plugin and keep options: %+v", c)
	}
	c = choose("", true, without, noGPU) // GOMLX_BACKEND set but empty: ignored
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
	if c := choose("", false, with, nvmlBlind); c.Name != "xla:cuda" || !strings.Contains(c.Reason, "CUDA is tried") {
		t.Fatalf("a plugin and an openable /dev/nvidia* must choose CUDA whatever NVML says: %+v", c)
	}
	hidden := nvidia.Presence{Hidden: true, DeviceFiles: 1, How: `CUDA_VISIBLE_DEVICES="" hides all GPUs`}
	if c := choose("", false, with, hidden); c.Name != "go" || c.Warning != "" {
		t.Fatalf("hidden GPUs: want a quiet CPU choice, got %+v", c)
	}
}

// TestChooseSaysWhyAPluginWasRefused: a CUDA 13 plugin on a CUDA 12.2 driver is refused, the refusal is
// the reason, and with a GPU there it is a loud warning.
func TestChooseSaysWhyAPluginWasRefused(t *testing.T) {
	only13 := &plugin.Search{Found: []*plugin.Plugin{{Path: "/a/xla_cuda13/xla_cuda_plugin.so", Source: "jax", CUDA: "13"}}}
	checkPlugins = false
	defer func() { checkPlugins = true }()
	c := choose("", false, only13, nvidia.Presence{Count: 1, How: "NVML sees 1 GPU", DriverCUDA: 12020})
	if c.Name != "go" || !strings.Contains(c.Reason, "needs CUDA 13") || c.Warning == "" || !strings.Contains(c.Warning, "--plugins") {
		t.Fatalf("choice: %+v", c)
	}
}
