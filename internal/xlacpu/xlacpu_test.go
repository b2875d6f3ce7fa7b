package xlacpu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// realPlugin is the pinned plugin as gonbgpu finds it: `make test` runs `make venv` first, so a missing
// plugin fails these tests (it would also leave every xla:cpu test of `make test` without a backend).
func realPlugin(t *testing.T) string {
	t.Helper()
	s := Find(DefaultPlaces())
	if len(s.Found) == 0 {
		t.Fatalf("%s\n(the tests need the pinned plugin: run `make venv`)", s.NotFoundMessage())
	}
	return s.Found[0].Path
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFindLayouts: the wheels' layouts in each kind of site-packages, in order (the checkout's .venv,
// then ~/.local), the pinned package first within one folder, with its version; plain folders last;
// Only searches the named file alone.
func TestFindLayouts(t *testing.T) {
	root := t.TempDir()
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("CONDA_PREFIX", "")
	t.Setenv("PATH", "") // no python3: only the folders given are searched
	checkout := filepath.Join(root, "gonbgpu")
	venvSite := filepath.Join(checkout, ".venv", "lib", "python3.11", "site-packages")
	home := filepath.Join(root, "home")
	userSite := filepath.Join(home, ".local", "lib", "python3.12", "site-packages")
	touch(t, filepath.Join(venvSite, "lammps_jax_pjrt_cpu", "pjrt_c_api_cpu_plugin.so"))
	touch(t, filepath.Join(venvSite, "fastatomstruct_xla_cpu", "libpjrt_cpu.so"))
	if err := os.MkdirAll(filepath.Join(venvSite, "fastatomstruct_xla_cpu-2026.6.23.dist-info"), 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(userSite, "xla_plugins", "xla_cpu_pjrt", "xla_cpu_pjrt.so"))
	goxla := filepath.Join(home, ".local", "lib", "go-xla", "pjrt_c_api_cpu_plugin.so")
	touch(t, goxla)
	s := Find(Places{Checkouts: []string{checkout}, Home: home})
	var got []string
	for _, p := range s.Found {
		got = append(got, strings.TrimPrefix(p.Path, root+"/"))
	}
	want := []string{
		"gonbgpu/.venv/lib/python3.11/site-packages/fastatomstruct_xla_cpu/libpjrt_cpu.so",
		"gonbgpu/.venv/lib/python3.11/site-packages/lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so",
		"home/.local/lib/python3.12/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so",
		"home/.local/lib/go-xla/pjrt_c_api_cpu_plugin.so",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := s.Found[0]; p.Package != "fastatomstruct-xla-cpu" || p.Version != "2026.6.23" || !strings.Contains(p.Where, ".venv") {
		t.Errorf("first: %+v", p)
	}
	only := Find(Places{Path: goxla, Only: true, Checkouts: []string{checkout}, Home: home})
	if len(only.Found) != 1 || only.Found[0].Path != goxla {
		t.Errorf("Only: %+v", only.Found)
	}
	none := Find(Places{Home: filepath.Join(root, "nobody")})
	if msg := none.NotFoundMessage(); len(none.Found) != 0 || !strings.Contains(msg, "requirements.txt") || !strings.Contains(msg, "~/.local") {
		t.Errorf("nothing found: %q", msg)
	}
}

// TestCheckThePinnedPlugin: the pinned plugin loads, calls itself "cpu", computes the check graph as the
// pure-Go backend does, in float32 and bfloat16; then backends with 1, 2 and 4 devices run on it, and
// device counts out of range are one error each.
func TestCheckThePinnedPlugin(t *testing.T) {
	path := realPlugin(t)
	r := Check(path)
	if !r.Usable() || r.Platform != "cpu" || r.API.Minor < 104 || r.Devices != 4 {
		t.Fatalf("check of %s: %+v", path, r)
	}
	for _, n := range []int{1, 2, 4} {
		b, err := New(Options{Plugin: path, Devices: n})
		if err != nil {
			t.Fatalf("%d devices: %v", n, err)
		}
		if b.NumDevices() != n || !b.IsCPU() || b.IsCUDA() {
			t.Errorf("%d devices: the backend has %d (CPU %v, CUDA %v)", n, b.NumDevices(), b.IsCPU(), b.IsCUDA())
		}
		// Each device computes: the same graph on the last device.
		exec := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(x, x)) })
		out, _, err := exec.CallWithGraphOnDevice(compute.DeviceNum(n-1), tensors.FromValue([]float32{1, 2, 3}))
		if err != nil || tensors.ToScalar[float32](out[0]) != 14 {
			t.Errorf("%d devices: on device %d: %v %v", n, n-1, out, err)
		}
		b.Finalize()
	}
	for _, n := range []int{-1, MaxDevices + 1} {
		if _, err := New(Options{Plugin: path, Devices: n}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("devices %d: %v", n, err)
		}
	}
	if _, err := New(Options{Plugin: path + ".other", Devices: 1}); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("a second plugin in the same process: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		in      string
		ok      bool
		devices int
		plugin  string
		bad     string
	}{
		{"xla:cpu", true, 0, "", ""},
		{"xla:cpu,devices=2", true, 2, "", ""},
		{" xla:cpu,plugin=/p/libpjrt_cpu.so,devices=4", true, 4, "/p/libpjrt_cpu.so", ""},
		{"xla:cpu,devices=0", true, 0, "", "devices"},
		{"xla:cpu,devices=x", true, 0, "", "devices"},
		{"xla:cpu,threads=2", true, 0, "", "unknown option"},
		{"xla:cuda", false, 0, "", ""},
		{"go", false, 0, "", ""},
		{"xla:/p/libpjrt_cpu.so", false, 0, "", ""},
	} {
		o, ok, err := ParseConfig(c.in)
		if ok != c.ok || o.Devices != c.devices || o.Plugin != c.plugin || (c.bad == "") != (err == nil) ||
			(err != nil && !strings.Contains(err.Error(), c.bad)) {
			t.Errorf("%q: %+v %v %v", c.in, o, ok, err)
		}
		if c.ok && c.bad == "" && c.plugin == "" {
			if again, _, _ := ParseConfig(Config(o.Devices)); again != o {
				t.Errorf("%q: Config does not read back: %+v", c.in, again)
			}
		}
	}
}
