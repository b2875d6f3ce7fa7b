package installer

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/go-xla/installer"
	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
)

// cudaPluginFor names the go-xla CUDA plugin ("cuda12" or "cuda13") `gonbgpu install --cuda` downloads for
// the GPUs of g, and why: CUDA 13 only for compute capability 7.5 and newer on an R580 driver; CUDA 12 for a
// P100 or V100, an older driver, or where no GPU is known (--force on a login node: CUDA 12 runs on every
// GPU of the cluster from sm_52).
func cudaPluginFor(g nvidia.Presence) (string, string, error) {
	if g.Count == 0 {
		return "cuda12", "no GPU is visible here: CUDA 12, which runs on every GPU from compute capability 5.2 (P100, V100, A100, H100)", nil
	}
	cuda, whyNone := g.PluginCUDA()
	if cuda == 0 {
		return "", "", fmt.Errorf("gonbgpu install --cuda: no CUDA plugin runs on this node's GPU: %s", whyNone)
	}
	return fmt.Sprintf("cuda%d", cuda), g.PluginAdvice(), nil
}

// installCUDA downloads the CUDA PJRT plugin for this node's GPU (see [cudaPluginFor]) and NVIDIA's
// libraries with go-xla's installer (from JAX's packages on pypi.org, checksums verified) into
// ~/.local/lib/go-xla, where gonbgpu's discovery finds them. It needs the internet, so run it on a login
// node, not a compute node. On a machine with no NVIDIA GPU it refuses, unless force: the download is
// several gigabytes.
func installCUDA(o *Options) error {
	g := nvidia.Detect()
	if g.Count == 0 && !o.Force {
		return fmt.Errorf("gonbgpu install --cuda: no NVIDIA GPU is visible here (%s); the download is several GB, "+
			"so it only runs where a GPU is (or with --force, e.g. on a login node sharing $HOME with GPU nodes)", g.How)
	}
	name, why, err := cudaPluginFor(g)
	if err != nil {
		return err
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("gonbgpu install --cuda: %w", err)
	}
	dir := filepath.Join(home, ".local", "lib", "go-xla")
	o.step("cuda", "downloading the %s PJRT plugin and NVIDIA libraries into %s (go-xla's installer; %s) …", name, dir, why)
	if err := installer.CudaInstall(name, "latest", dir, true, installer.Quiet); err != nil {
		return fmt.Errorf("gonbgpu install --cuda: %w (is pypi.org reachable from here? compute nodes usually have no internet: "+
			"run it on a login node, or install JAX's plugin with pip: %s)", err, nvidia.PipInstall(map[string]int{"cuda12": 12, "cuda13": 13}[name]))
	}
	if p := plugin.Find().Best(); p != nil {
		o.step("cuda", "installed: %s", p)
	}
	return nil
}
