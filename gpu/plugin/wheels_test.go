package plugin

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
)

// realWheel is a CUDA plugin wheel from PyPI, pinned by version and SHA-256. All three are used: each is
// under 200 MB (jax-cuda13-pjrt 129 MB, jax-cuda12-pjrt 192 MB, xla-cuda13-pjrt 88 MB), and each has its
// own layout or RPATH.
type realWheel struct {
	pkg, version, sha256 string
	plugin               string // the plugin inside the wheel (and site-packages)
	dist                 string // its dist-info folder
}

var realWheels = []realWheel{
	{"jax-cuda13-pjrt", "0.12.1", "d98d4a601453f21d3b385daea4a54b0b5b4ee61007c95b2029f7db0b2a7fbe87",
		"jax_plugins/xla_cuda13/xla_cuda_plugin.so", "jax_cuda13_pjrt-0.12.1.dist-info"},
	{"jax-cuda12-pjrt", "0.12.0.1", "5ec28e06198d094031c37590b4ea753ae8cde4879ab4b60baf40f0dffb673286",
		"jax_plugins/xla_cuda12/xla_cuda_plugin.so", "jax_cuda12_pjrt-0.12.0.1.dist-info"},
	{"xla-cuda13-pjrt", "0.0.1", "7ee65fdefde56f577f146681b586d4b811b299ee63504934062556190adc86d4",
		"xla_plugins/xla_cuda13_pjrt/xla_gpu_pjrt.so", "xla_cuda13_pjrt-0.0.1.dist-info"},
}

// fetchWheel returns a folder holding the unpacked wheel, from the cache of unpacked wheels
// ($XDG_CACHE_HOME/gonbgpu/wheels/<sha256>, else ~/.cache/…), first downloading it with pip (--no-deps,
// --require-hashes) and checking its hash. It needs the network once per wheel; the unpacked plugins take
// about 1 GB. Call it before isolate, which moves HOME.
func fetchWheel(t *testing.T, w realWheel) string {
	t.Helper()
	root, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "gonbgpu", "wheels", w.sha256)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	python := "../../.venv/bin/python" // the checkout's venv (`make venv`)
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	tmp := t.TempDir()
	req := filepath.Join(tmp, "requirements.txt")
	os.WriteFile(req, []byte(w.pkg+"=="+w.version+" --hash=sha256:"+w.sha256+"\n"), 0o644)
	out, err := exec.Command(python, "-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary=:all:",
		"-r", req, "-d", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("downloading %s==%s with %s -m pip (the test needs it once, then keeps it in %s): %v\n%s", w.pkg, w.version, python, dir, err, out)
	}
	wheels, _ := filepath.Glob(filepath.Join(tmp, "*.whl"))
	if len(wheels) != 1 {
		t.Fatalf("pip downloaded %v", wheels)
	}
	data, err := os.ReadFile(wheels[0])
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != w.sha256 {
		t.Fatalf("%s: sha256 %x, want %s", wheels[0], sum, w.sha256)
	}
	z, err := zip.OpenReader(wheels[0])
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	part := dir + ".part"
	os.RemoveAll(part)
	for _, f := range z.File {
		if f.FileInfo().IsDir() || strings.Contains(f.Name, "..") {
			continue
		}
		dst := filepath.Join(part, f.Name)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err == nil {
			_, err = io.Copy(out, r)
			err = errorsJoin(err, out.Close())
		}
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(part, ".complete"), nil, 0o644)
	os.RemoveAll(dir)
	if err := os.Rename(part, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// installWheel lays an unpacked wheel into a site-packages folder the way pip does, linking its plugin.
func installWheel(t *testing.T, unpacked string, w realWheel, sp string) string {
	t.Helper()
	plugin := filepath.Join(sp, w.plugin)
	os.MkdirAll(filepath.Dir(plugin), 0o755)
	if err := os.Symlink(filepath.Join(unpacked, w.plugin), plugin); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(sp, w.dist), 0o755)
	meta, err := os.ReadFile(filepath.Join(unpacked, w.dist, "METADATA"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sp, w.dist, "METADATA"), meta, 0o644)
	return plugin
}

// touch creates empty files (NVIDIA's libraries, libdevice) below root; a name "a->b" is a link a to b.
func touch(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		name, target, link := strings.Cut(n, "->")
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var err error
		if link {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// realLayouts installs the three real plugin wheels the ways students' machines have them: jax[cuda13]
// in a virtualenv with NVIDIA's CUDA 13 wheels (nvidia/cu13, cudnn, nccl) and an unrelated CUDA 12
// runtime wheel beside them; jax[cuda12] with `pip install --user` (~/.local, nvidia/<library> folders
// and cuda_nvcc); google-ml's xla-cuda13-pjrt in a conda-forge environment, whose NVIDIA libraries are in
// $CONDA_PREFIX/lib as versioned files behind soname links. It returns the three plugins' paths.
func realLayouts(t *testing.T) (venvPlugin, userPlugin, condaPlugin string, venv, user, conda string) {
	t.Helper()
	var unpacked []string
	for _, w := range realWheels {
		unpacked = append(unpacked, fetchWheel(t, w))
	}
	isolate(t)
	root := t.TempDir()
	venv = filepath.Join(root, "venv", "lib", "python3.12", "site-packages")
	venvPlugin = installWheel(t, unpacked[0], realWheels[0], venv)
	touch(t, filepath.Join(venv, "nvidia"), "cu13/lib/libcudart.so.13", "cu13/lib/libcublas.so.13", "cu13/lib/libcublasLt.so.13",
		"cu13/lib/libnvJitLink.so.13", "cu13/lib/libcusolver.so.12", "cu13/lib/libcusparse.so.12", "cu13/lib/libcufft.so.12",
		"cu13/lib/libnvrtc.so.13", "cudnn/lib/libcudnn.so.9", "cudnn/lib/libcudnn_ops.so.9", "nccl/lib/libnccl.so.2",
		"cu13/nvvm/libdevice/libdevice.10.bc", "cu13/bin/ptxas", "cuda_runtime/lib/libcudart.so.12")
	home := os.Getenv("HOME")
	user = filepath.Join(home, ".local", "lib", "python3.11", "site-packages")
	userPlugin = installWheel(t, unpacked[1], realWheels[1], user)
	touch(t, filepath.Join(user, "nvidia"), "cuda_runtime/lib/libcudart.so.12", "cublas/lib/libcublas.so.12",
		"cublas/lib/libcublasLt.so.12", "nvjitlink/lib/libnvJitLink.so.12", "cudnn/lib/libcudnn.so.9",
		"nccl/lib/libnccl.so.2", "cusolver/lib/libcusolver.so.11", "cuda_nvcc/nvvm/libdevice/libdevice.10.bc",
		"cuda_nvcc/bin/ptxas")
	prefix := filepath.Join(root, "conda")
	conda = filepath.Join(prefix, "lib", "python3.12", "site-packages")
	condaPlugin = installWheel(t, unpacked[2], realWheels[2], conda)
	touch(t, prefix, "conda-meta/history", "lib/libcudart.so.13.0.96", "lib/libcudart.so.13->libcudart.so.13.0.96",
		"lib/libcudart.so->libcudart.so.13", "lib/libcublas.so.13.1.0.3", "lib/libcublas.so.13->libcublas.so.13.1.0.3",
		"lib/libcublasLt.so.13", "lib/libcudnn.so.9", "nvvm/libdevice/libdevice.10.bc", "bin/ptxas")
	t.Setenv("VIRTUAL_ENV", filepath.Join(root, "venv"))
	t.Setenv("CONDA_PREFIX", prefix)
	return
}

// TestFindsRealWheelsAndTheirLibraries searches realistic installs of the real plugin wheels (see
// realLayouts): all three plugins are found, with their CUDA and package versions; each gets the NVIDIA
// libraries its RPATH names, from its own install first (the conda one from $CONDA_PREFIX/lib, by soname),
// in load order, never the other CUDA's, and those JAX loads that the RPATH omits (cuSOLVER for CUDA 12);
// and the folder holding libdevice for --xla_gpu_cuda_data_dir.
func TestFindsRealWheelsAndTheirLibraries(t *testing.T) {
	venvPlugin, userPlugin, condaPlugin, venv, user, conda := realLayouts(t)
	prefix := filepath.Dir(filepath.Dir(filepath.Dir(conda)))
	s := Find()
	type want struct {
		path, cuda, version string
		libs                []string
		dataDir             string
	}
	wants := []want{
		{venvPlugin, "13", "0.12.1", []string{"nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libnvJitLink.so.13",
			"nvidia/cu13/lib/libnvrtc.so.13", "nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cu13/lib/libcublas.so.13",
			"nvidia/cu13/lib/libcufft.so.12", "nvidia/cu13/lib/libcusparse.so.12", "nvidia/cu13/lib/libcusolver.so.12",
			"nvidia/nccl/lib/libnccl.so.2", "nvidia/cudnn/lib/libcudnn.so.9"}, filepath.Join(venv, "nvidia", "cu13")},
		{condaPlugin, "13", "0.0.1", []string{"lib/libcudart.so.13", "lib/libcublasLt.so.13", "lib/libcublas.so.13",
			"lib/libcudnn.so.9"}, prefix},
		{userPlugin, "12", "0.12.0.1", []string{"nvidia/cuda_runtime/lib/libcudart.so.12", "nvidia/nvjitlink/lib/libnvJitLink.so.12",
			"nvidia/cublas/lib/libcublasLt.so.12", "nvidia/cublas/lib/libcublas.so.12", "nvidia/cusolver/lib/libcusolver.so.11",
			"nvidia/nccl/lib/libnccl.so.2",
			"nvidia/cudnn/lib/libcudnn.so.9"},
			filepath.Join(user, "nvidia", "cuda_nvcc")},
	}
	if len(s.Found) != len(wants) {
		t.Fatalf("found %d plugins, want %d:\n%v\nsearched %v", len(s.Found), len(wants), s.Found, s.Searched)
	}
	for i, w := range wants {
		p := s.Found[i]
		if p.Path != w.path || p.CUDA != w.cuda || p.Version != w.version {
			t.Errorf("plugin %d: %s CUDA %q version %q, want %s CUDA %s version %s", i, p.Path, p.CUDA, p.Version, w.path, w.cuda, w.version)
			continue
		}
		libs, dataDir := p.NvidiaLibraries()
		var rel []string
		for _, l := range libs {
			r, _ := filepath.Rel(filepath.Dir(filepath.Dir(filepath.Dir(w.path))), l) // from site-packages
			if strings.HasPrefix(l, prefix+"/lib/") {
				r, _ = filepath.Rel(prefix, l)
			}
			rel = append(rel, r)
		}
		if strings.Join(rel, " ") != strings.Join(w.libs, " ") || dataDir != w.dataDir {
			t.Errorf("%s:\n libraries %v\n want      %v\n data dir %q, want %q", p.Path, rel, w.libs, dataDir, w.dataDir)
		}
	}
	// What a child that loads the first plugin is given: the driver then the libraries, and the data
	// folder in XLA_FLAGS after the user's flags; a data folder the user chose is kept.
	t.Setenv("XLA_FLAGS", "--xla_gpu_autotune_level=2")
	libs, _ := s.Found[0].NvidiaLibraries()
	env := strings.Join(s.Found[0].childEnv(), "\n")
	if want := preloadEnv + "=" + pjrtapi.DriverLibrary + ":" + strings.Join(libs, ":") + "\n" +
		"XLA_FLAGS=--xla_gpu_autotune_level=2 --xla_gpu_cuda_data_dir=" + wants[0].dataDir; env != want {
		t.Errorf("child environment:\n%s\nwant:\n%s", env, want)
	}
	t.Setenv("XLA_FLAGS", "--xla_gpu_cuda_data_dir=/opt/cuda")
	if env := s.Found[0].childEnv(); len(env) != 1 {
		t.Errorf("the user's --xla_gpu_cuda_data_dir must win: %v", env)
	}
}

// TestRealPluginsWithoutTheDriver loads each real plugin, in a child, the way Pick does, on this machine,
// which has no NVIDIA driver: each is refused with one line that names the driver library (libcuda.so.1),
// and none crashes its child or this process.
func TestRealPluginsWithoutTheDriver(t *testing.T) {
	if err := pjrtapi.PreloadCUDA(pjrtapi.DriverLibrary, nil); err == nil {
		t.Skip("this machine has an NVIDIA driver: the no-driver message cannot be seen here")
	}
	venvPlugin, userPlugin, condaPlugin, _, _, _ := realLayouts(t)
	s := Find()
	p, refused := s.Pick(0, true)
	if p != nil {
		t.Fatalf("picked %v with no driver", p)
	}
	lines := strings.Split(refused, "; ")
	if len(lines) != 3 {
		t.Fatalf("want one refusal per plugin, got:\n%s", strings.Join(lines, "\n"))
	}
	for i, path := range []string{venvPlugin, condaPlugin, userPlugin} {
		l := lines[i]
		if !strings.HasPrefix(l, path+" is refused") || !strings.Contains(l, "NVIDIA driver library libcuda.so.1 cannot be loaded") ||
			strings.Contains(l, "SIG") || strings.Contains(l, "\n") {
			t.Errorf("refusal %d: %s", i, l)
		}
	}
}
