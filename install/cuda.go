package install

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/go-xla/installer"
	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
)

// CUDAPlugin is the go-xla CUDA plugin `gonbgpu install --cuda` downloads.
const CUDAPlugin = "cuda13"

// InstallCUDA downloads the CUDA PJRT plugin and NVIDIA's libraries with go-xla's installer (from JAX's
// packages on pypi.org, checksums verified) into ~/.local/lib/go-xla, where gonbgpu's discovery finds
// them. It needs the internet, so run it on a login node, not a compute node. On a machine with no
// NVIDIA GPU it refuses, unless force: the download is several gigabytes.
func InstallCUDA(o *Options) error {
	if g := nvidia.Detect(); g.Count == 0 && !o.Force {
		return fmt.Errorf("gonbgpu install --cuda: no NVIDIA GPU is visible here (%s); the download is several GB, "+
			"so it only runs where a GPU is (or with --force, e.g. on a login node sharing $HOME with GPU nodes)", g.How)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("gonbgpu install --cuda: %w", err)
	}
	dir := filepath.Join(home, ".local", "lib", "go-xla")
	o.step("cuda", "downloading the %s PJRT plugin and NVIDIA libraries into %s (go-xla's installer) …", CUDAPlugin, dir)
	if err := installer.CudaInstall(CUDAPlugin, "latest", dir, true, installer.Quiet); err != nil {
		return fmt.Errorf("gonbgpu install --cuda: %w (is pypi.org reachable from here? compute nodes usually have no internet: "+
			"run it on a login node, or install JAX's plugin with pip: python3 -m pip install --user \"jax[cuda13]\")", err)
	}
	if p := plugin.Find().Best(); p != nil {
		o.step("cuda", "installed: %s", p)
	}
	return nil
}
