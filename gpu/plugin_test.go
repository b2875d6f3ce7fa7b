package gpu

import (
	"os"
	"path/filepath"
	"reflect"
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
	t.Setenv(PluginEnv, "")
	t.Setenv("GONBGPU_CACHE_DIR", filepath.Join(home, "cache"))
}

func TestFindPluginInCondaPrefix(t *testing.T) {
	isolate(t)
	conda := t.TempDir()
	sp, plugin := fakeJAX(t, conda, "13")
	t.Setenv("CONDA_PREFIX", conda)
	s := FindCUDAPlugin()
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
	s := FindCUDAPlugin()
	if len(s.Found) != 3 {
		t.Fatalf("want 3 plugins, got %d: %v", len(s.Found), s.Found)
	}
	// Newest CUDA first wherever it is; between equal ones (no versions known here), the search order.
	if s.Found[0].Path != p13 || s.Found[1].CUDA != "13" || s.Found[2].Path != p12 {
		t.Fatalf("order: %v, %v, %v", s.Found[0].Path, s.Found[1].Path, s.Found[2].Path)
	}
}

func TestFindPluginEnvFirst(t *testing.T) {
	isolate(t)
	conda := t.TempDir()
	fakeJAX(t, conda, "13")
	t.Setenv("CONDA_PREFIX", conda)
	dir := t.TempDir()
	lib := filepath.Join(dir, "pjrt_c_api_cuda_plugin.so")
	os.WriteFile(lib, []byte("x"), 0o755)
	os.WriteFile(filepath.Join(dir, "pjrt_c_api_cpu_plugin.so"), []byte("x"), 0o755) // not CUDA: ignored
	t.Setenv(PluginEnv, dir)
	p := FindCUDAPlugin().Best()
	if p == nil || p.Path != lib || p.Source != "PJRT_PLUGIN_LIBRARY_PATH" {
		t.Fatalf("want %s from the env first, got %+v", lib, p)
	}
}

func TestFindPluginNothing(t *testing.T) {
	isolate(t)
	s := FindCUDAPlugin()
	if s.Best() != nil {
		t.Fatalf("found %v in an empty machine", s.Best())
	}
	msg := s.NotFoundMessage()
	for _, w := range []string{"go-xla install", "~/.local", "jax[cuda13]", PluginEnv} {
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
	p := FindCUDAPlugin().Best()
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

func TestChooseRules(t *testing.T) {
	plugin := &Plugin{Path: "/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so", Source: "jax", Where: "$CONDA_PREFIX"}
	with := &PluginSearch{Found: []*Plugin{plugin}, Searched: []string{"$CONDA_PREFIX (/x): /x/lib"}}
	without := &PluginSearch{Searched: []string{"go-xla install: /a", "~/.local: /b"}}
	twoGPUs := GPUPresence{Count: 2, How: "NVML sees 2 visible GPU(s)"}
	noGPU := GPUPresence{Count: 0, How: "no /dev/nvidia* device files"}
	checkPlugins = false
	defer func() { checkPlugins = true }()

	c := choose("", false, with, twoGPUs)
	if c.Name != "xla:cuda" || c.Config != "xla:"+plugin.Path || c.Explicit {
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
	if c.Config != "xla:"+plugin.Path+",preallocate=true" {
		t.Errorf("xla:cuda should use the found plugin and keep options: %+v", c)
	}
	c = choose("", true, without, noGPU) // GOMLX_BACKEND set but empty: ignored
	if c.Explicit {
		t.Errorf("empty GOMLX_BACKEND must not count: %+v", c)
	}
}

func TestVisibleIndices(t *testing.T) {
	uuids := []string{"GPU-aaaa-1", "GPU-bbbb-2", "GPU-cccc-3", "GPU-dddd-4"}
	cases := []struct {
		env  string
		want []int
	}{
		{"", []int{0, 1, 2, 3}},
		{"0,1", []int{0, 1}},
		{"3,1", []int{3, 1}},
		{" 2 ", []int{2}},
		{"1,7,2", []int{1}},    // CUDA stops at the first invalid entry
		{"1,1", []int{1}},      // a repeat is invalid too
		{"GPU-cccc", []int{2}}, // UUID prefix
		{"GPU-zzzz", nil},
		{"-1", nil},
	}
	for _, c := range cases {
		got := VisibleIndices(4, c.env, uuids)
		if !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("CUDA_VISIBLE_DEVICES=%q: got %v, want %v", c.env, got, c.want)
		}
	}
}

func TestDetectGPUsHonoursEmptyVisibleDevices(t *testing.T) {
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	if g := DetectGPUs(); g.Count != 0 || !strings.Contains(g.How, "hides all GPUs") {
		t.Fatalf("%+v", g)
	}
}

func TestFormatDevices(t *testing.T) {
	devs := []Device{
		{Index: 0, Kind: GPU, Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 80 << 30, MemoryFree: 60 << 30, Source: "nvml", Detail: "driver 580.1"},
		{Index: 0, Kind: CPU, Name: "Intel Xeon", Cores: 16, MemoryTotal: 128 << 30, MemoryFree: 100 << 30, Source: "host"},
	}
	out := FormatDevices("gonbgpu devices    backend: xla:cuda", devs)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 8 {
		t.Fatalf("want 8 lines, got %d:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Fatalf("ragged table:\n%s", out)
		}
	}
	for _, w := range []string{"NVIDIA H100 80GB HBM3", "20.0 GiB / 80.0 GiB", "60.0 GiB", "|    16 |", "host", "backend: xla:cuda"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
}

func TestHostDevice(t *testing.T) {
	d := HostDevice()
	if d.Kind != CPU || d.Cores < 1 || d.MemoryTotal == 0 || d.MemoryFree > d.MemoryTotal || d.Name == "" {
		t.Fatalf("%+v", d)
	}
}
