package installer

import (
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
)

// TestCUDAPluginForTheGPU: `gonbgpu install --cuda` downloads CUDA 12's plugin for a P100 or V100 and for an
// older driver, CUDA 13's for an A100 or H100 on an R580 driver, CUDA 12's where no GPU is known, and
// refuses a CUDA 11 driver naming it.
func TestCUDAPluginForTheGPU(t *testing.T) {
	for _, c := range []struct {
		name       string
		cc, driver int
		want       string
	}{
		{"Tesla P100-PCIE-12GB", 60, 13000, "cuda12"}, {"Tesla V100-SXM2-32GB", 70, 13000, "cuda12"},
		{"NVIDIA A100-SXM4-80GB", 80, 13000, "cuda13"}, {"NVIDIA A100-SXM4-80GB", 80, 12020, "cuda12"},
		{"NVIDIA H100 80GB HBM3", 90, 13000, "cuda13"},
	} {
		got, why, err := cudaPluginFor(nvidia.Presence{Count: 1, CC: c.cc, GPUName: c.name, DriverCUDA: c.driver})
		if err != nil || got != c.want || !strings.Contains(why, c.name) {
			t.Errorf("%s (sm_%d), driver CUDA %d: want %s, got %s (%s) %v", c.name, c.cc, c.driver, c.want, got, why, err)
		}
	}
	if got, why, err := cudaPluginFor(nvidia.Presence{}); got != "cuda12" || err != nil || !strings.Contains(why, "no GPU is visible") {
		t.Errorf("no GPU known (--force): want cuda12, got %s (%s) %v", got, why, err)
	}
	_, _, err := cudaPluginFor(nvidia.Presence{Count: 1, CC: 70, GPUName: "Tesla V100-SXM2-16GB", DriverCUDA: 11040})
	if err == nil || !strings.Contains(err.Error(), "CUDA 11.4") || !strings.Contains(err.Error(), "gonbgpu install --cuda") {
		t.Errorf("a CUDA 11.4 driver: want a refusal naming it, got %v", err)
	}
}
