package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeJAX lays out a JAX CUDA install the way pip does: site-packages/jax_plugins/xla_cudaNN/ with the
// plugin, and site-packages/nvidia/ with NVIDIA's libraries.
func fakeJAX(t *testing.T, prefix, cuda string) (sitePackages, plugin string) {
	t.Helper()
	sp := filepath.Join(prefix, "lib", "python3.12", "site-packages")
	plugin = filepath.Join(sp, "jax_plugins", "xla_cuda"+cuda, "xla_cuda_plugin.so")
	for _, d := range []string{filepath.Dir(plugin), filepath.Join(sp, "nvidia", "cublas", "lib")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(plugin, []byte("\x7fELF fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	return sp, plugin
}

// isolate points every search place at empty folders, so the machine's own installs don't leak in.
func isolate(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", t.TempDir()) // no python3
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("CONDA_PREFIX", "")
	t.Setenv(PathEnv, "")
	t.Setenv("GONBGPU_CACHE_DIR", filepath.Join(home, "cache"))
}

func TestFindPluginInCondaPrefix(t *testing.T) {
	isolate(t)
	conda := t.TempDir()
	sp, plugin := fakeJAX(t, conda, "13")
	t.Setenv("CONDA_PREFIX", conda)
	s := Find()
	p := s.Best()
	if p == nil {
		t.Fatalf("no plugin found; searched %v", s.Searched)
	}
	if p.Path != plugin || p.Source != "jax" || p.CUDA != "13" || p.NvidiaDir != filepath.Join(sp, "nvidia") {
		t.Fatalf("wrong plugin: %+v", p)
	}
	if !strings.Contains(p.Where, "CONDA_PREFIX") {
		t.Errorf("Where should name $CONDA_PREFIX: %q", p.Where)
	}
}

func TestFindPluginPrefersVirtualEnvAndNewestCUDA(t *testing.T) {
	isolate(t)
	venv, conda := t.TempDir(), t.TempDir()
	_, p12 := fakeJAX(t, venv, "12")
	_, p13 := fakeJAX(t, venv, "13")
	fakeJAX(t, conda, "13")
	t.Setenv("VIRTUAL_ENV", venv)
	t.Setenv("CONDA_PREFIX", conda)
	s := Find()
	if len(s.Found) != 3 {
		t.Fatalf("want 3 plugins, got %d: %v", len(s.Found), s.Found)
	}
	// Newest CUDA first wherever it is; between equal ones (no versions known here), the search order.
	if s.Found[0].Path != p13 || s.Found[1].CUDA != "13" || s.Found[2].Path != p12 {
		t.Fatalf("order: %v, %v, %v", s.Found[0].Path, s.Found[1].Path, s.Found[2].Path)
	}
}

func TestFindPathEnvFirst(t *testing.T) {
	isolate(t)
	conda := t.TempDir()
	fakeJAX(t, conda, "13")
	t.Setenv("CONDA_PREFIX", conda)
	dir := t.TempDir()
	lib := filepath.Join(dir, "pjrt_c_api_cuda_plugin.so")
	os.WriteFile(lib, []byte("x"), 0o755)
	os.WriteFile(filepath.Join(dir, "pjrt_c_api_cpu_plugin.so"), []byte("x"), 0o755) // not CUDA: ignored
	t.Setenv(PathEnv, dir)
	p := Find().Best()
	if p == nil || p.Path != lib || p.Source != "PJRT_PLUGIN_LIBRARY_PATH" {
		t.Fatalf("want %s from the env first, got %+v", lib, p)
	}
}

func TestFindPluginNothing(t *testing.T) {
	isolate(t)
	s := Find()
	if s.Best() != nil {
		t.Fatalf("found %v in an empty machine", s.Best())
	}
	msg := s.NotFoundMessage()
	for _, w := range []string{"go-xla install", "~/.local", "jax[cuda13]", PathEnv} {
		if !strings.Contains(msg, w) {
			t.Errorf("not-found message lacks %q:\n%s", w, msg)
		}
	}
}

func TestLinkDirLaysOutPluginForGoXLA(t *testing.T) {
	isolate(t)
	conda := t.TempDir()
	sp, plugin := fakeJAX(t, conda, "13")
	t.Setenv("CONDA_PREFIX", conda)
	p := Find().Best()
	cache := t.TempDir()
	path, err := p.LinkDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "pjrt_c_api_cuda_plugin.so" {
		t.Fatalf("go-xla loads pjrt_c_api_<name>_plugin.so, got %s", path)
	}
	if target, _ := os.Readlink(path); target != plugin {
		t.Fatalf("link points to %q, want %q", target, plugin)
	}
	nv := filepath.Join(filepath.Dir(filepath.Dir(path)), "nvidia")
	if target, _ := os.Readlink(nv); target != filepath.Join(sp, "nvidia") {
		t.Fatalf("../nvidia points to %q", target)
	}
	// Idempotent.
	path2, err := p.LinkDir(cache)
	if err != nil || path2 != path {
		t.Fatalf("second LinkDir: %v %v", path2, err)
	}
}
