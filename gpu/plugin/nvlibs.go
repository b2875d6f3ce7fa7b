package plugin

import (
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
)

// A CUDA plugin finds NVIDIA's libraries through its RPATH, relative to its own file ($ORIGIN/../nvidia/…)
// in the one site-packages it was installed in. That misses libraries that pip put in another
// site-packages (`pip install --user` over a system JAX), a plugin seen through a link (LinkDir), and
// conda-forge's environments, where NVIDIA's libraries are in $CONDA_PREFIX/lib and conda's relinking
// rewrites RPATHs. So gonbgpu does what JAX's plugin initialisation does (jax_plugins/xla_cuda*/
// __init__.py): it loads the CUDA runtime, nvJitLink, NVRTC, cuBLAS/cuBLASLt, cuFFT, cuSPARSE,
// cuSOLVER, NCCL and cuDNN itself, with RTLD_GLOBAL, before the plugin; and it tells XLA where libdevice
// and ptxas are (--xla_gpu_cuda_data_dir), which XLA would otherwise look for under /usr/local/cuda.

// preloadOrder are the libraries loaded before a CUDA plugin, by file name without ".so.N", in an order
// where each one's NVIDIA dependencies come before it (cuBLAS needs cuBLASLt; cuSPARSE and cuSOLVER
// need nvJitLink; cuSOLVER needs cuBLAS and cuSPARSE).
var preloadOrder = []string{"libcudart", "libnvJitLink", "libnvrtc", "libcublasLt", "libcublas", "libcufft",
	"libcusparse", "libcusolver", "libnccl", "libcudnn"}

// libdevice is XLA's path, inside a CUDA data folder, to the bitcode library it links every kernel with;
// ptxas is in the same folder's bin/.
var libdevice = filepath.Join("nvvm", "libdevice", "libdevice.10.bc")

// nvidiaRPath matches an RPATH entry into pip's nvidia folder and keeps the part below it ("cu13/lib").
var nvidiaRPath = regexp.MustCompile(`^\$ORIGIN(?:/\.\.)+/nvidia/(.+)$`)

// jaxNvidiaDirs are the folders below nvidia/ that JAX's plugin initialisation loads libraries from, per
// CUDA major version: CUDA 12's wheels have a folder per library, CUDA 13's share nvidia/cu13. A CUDA 12
// plugin's RPATH omits some that it needs at run time (cuda_nvrtc, cusolver).
var jaxNvidiaDirs = map[string][]string{
	"12": {"cuda_runtime/lib", "cuda_nvrtc/lib", "nvjitlink/lib", "cublas/lib", "cufft/lib", "cusparse/lib",
		"cusolver/lib", "nccl/lib", "cudnn/lib"},
	"13": {"cu13/lib", "nccl/lib", "cudnn/lib"},
}

// nvidiaSubdirs lists the folders below nvidia/ to load the plugin's libraries from: those its RPATH (or
// RUNPATH) names, in its order, then JAX's for its CUDA version, without repeats. A CUDA 13 plugin gets
// cu13/lib, cudnn/lib and nccl/lib, a CUDA 12 one cuda_runtime/lib, cublas/lib and so on, so the other
// CUDA's wheels, when installed beside it, are not loaded. It returns nil when neither says (then every
// nvidia/*/lib is a candidate).
func nvidiaSubdirs(plugin, cuda string) (subs []string) {
	defer func() {
		for _, d := range jaxNvidiaDirs[cuda] {
			if !slices.Contains(subs, d) {
				subs = append(subs, d)
			}
		}
	}()
	f, err := elf.Open(plugin)
	if err != nil {
		return subs
	}
	defer f.Close()
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		paths, _ := f.DynString(tag)
		for _, p := range paths {
			for _, entry := range strings.Split(p, ":") {
				if m := nvidiaRPath.FindStringSubmatch(entry); m != nil && !slices.Contains(subs, m[1]) {
					subs = append(subs, m[1])
				}
			}
		}
	}
	return subs
}

// NvidiaLibraries returns the NVIDIA library files to load before the plugin (see [preloadOrder]), each
// the first found in its folders: p.CondaLib, then below each of p.NvidiaDirs the subfolders the plugin's
// RPATH names (for a plugin of a conda environment, only its own site-packages' nvidia folder). dataDir is the first of the CUDA folders of those installs (the conda environment, or
// nvidia/cu13 or nvidia/cuda_nvcc of pip's wheels) that holds libdevice, for --xla_gpu_cuda_data_dir;
// "" when none does.
func (p *Plugin) NvidiaLibraries() (libs []string, dataDir string) {
	var folders, dataDirs []string
	if p.CondaLib != "" {
		// The plugin's own environment first: conda-forge's libraries were built to go with it.
		folders = append(folders, p.CondaLib)
		dataDirs = append(dataDirs, filepath.Dir(p.CondaLib))
	}
	subs := nvidiaSubdirs(p.Path, p.CUDA)
	nvidiaDirs := p.NvidiaDirs
	if p.CondaLib != "" {
		// A conda environment is complete in itself: other installs' pip wheels are not mixed into it,
		// only the nvidia folder of its own site-packages, when pip put one there.
		nvidiaDirs = nil
		if own := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(p.Path))), "nvidia"); slices.Contains(p.NvidiaDirs, own) {
			nvidiaDirs = []string{own}
		}
	}
	for _, nv := range nvidiaDirs {
		if subs == nil {
			found, _ := filepath.Glob(filepath.Join(nv, "*", "lib"))
			folders = append(folders, found...)
		}
		for _, s := range subs {
			folders = append(folders, filepath.Join(nv, s))
		}
		dataDirs = append(dataDirs, filepath.Join(nv, "cu"+p.CUDA), filepath.Join(nv, "cuda_nvcc"))
	}
	for _, base := range preloadOrder {
		for _, dir := range folders {
			if l := sonameIn(dir, base); l != "" {
				libs = append(libs, l)
				break
			}
		}
	}
	for _, d := range dataDirs {
		if isRegularFile(filepath.Join(d, libdevice)) {
			return libs, d
		}
	}
	return libs, ""
}

// sonameIn returns dir/base.so.N, the library's name as the loader asks for it (libcudart.so.13), or ""
// when dir has none. Of several majors (a conda environment upgraded in place), the highest.
func sonameIn(dir, base string) string {
	found, _ := filepath.Glob(filepath.Join(dir, base+".so.*"))
	best, bestMajor := "", ""
	for _, f := range found {
		major := strings.TrimPrefix(filepath.Base(f), base+".so.")
		if major == "" || strings.Trim(major, "0123456789") != "" || !isRegularFile(f) {
			continue
		}
		if best == "" || compareVersions(major, bestMajor) > 0 {
			best, bestMajor = f, major
		}
	}
	return best
}

// condaLib returns the lib folder of the conda environment that holds the site-packages folder sp
// (<prefix>/lib/pythonX.Y/site-packages, with <prefix>/conda-meta), or "".
func condaLib(sp string) string {
	lib := filepath.Dir(filepath.Dir(sp))
	if filepath.Base(lib) != "lib" || !isDir(filepath.Join(filepath.Dir(lib), "conda-meta")) {
		return ""
	}
	return lib
}

// WithCUDADataDir returns XLA_FLAGS with --xla_gpu_cuda_data_dir=dir added, unless flags already name a
// data folder (the user's choice wins) or dir is "".
func WithCUDADataDir(flags, dir string) string {
	if _, set := flagValue(flags, "xla_gpu_cuda_data_dir"); set || dir == "" {
		return flags
	}
	return strings.TrimSpace(flags + " --xla_gpu_cuda_data_dir=" + dir)
}

// preloadEnv names the variable that tells a child what to load, ":"-separated, before it loads a CUDA
// plugin (see pjrtapi.PreloadCUDA): the driver library, then NVIDIA's libraries.
const preloadEnv = "GONBGPU_PRELOAD_CUDA"

// cudaDriver is the driver library a child loads before a CUDA plugin. A variable so that tests run the
// CUDA check on XLA's CPU plugin, with a library every machine has (see cudaPlatform).
var cudaDriver = pjrtapi.DriverLibrary

// childEnv is the environment a child that loads p needs beyond this process's: the libraries to preload
// and XLA's CUDA data folder.
func (p *Plugin) childEnv() []string {
	libs, dataDir := p.NvidiaLibraries()
	env := []string{preloadEnv + "=" + strings.Join(append([]string{cudaDriver}, libs...), string(os.PathListSeparator))}
	if flags := os.Getenv("XLA_FLAGS"); WithCUDADataDir(flags, dataDir) != flags {
		env = append(env, "XLA_FLAGS="+WithCUDADataDir(flags, dataDir))
	}
	return env
}
