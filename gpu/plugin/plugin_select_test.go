package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// writeDistInfo records a pip package's version in a site-packages folder.
func writeDistInfo(t *testing.T, sp, pkg, version string) {
	t.Helper()
	d := filepath.Join(sp, pkg+"-"+version+".dist-info")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := "Metadata-Version: 2.1\nName: " + pkg + "\nVersion: " + version + "\n\nlong description Version: 9.9.9\n"
	if err := os.WriteFile(filepath.Join(d, "METADATA"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPickByDriverCUDA(t *testing.T) {
	p13 := &Plugin{Path: "/a/xla_cuda13/xla_cuda_plugin.so", Source: "jax", CUDA: "13"}
	p12 := &Plugin{Path: "/a/xla_cuda12/xla_cuda_plugin.so", Source: "jax", CUDA: "12"}
	s := &Search{Found: []*Plugin{p13, p12}}
	if p, refused := s.Pick(12040, false); p != p12 || !strings.Contains(refused, "needs CUDA 13 but the driver runs CUDA 12.4") {
		t.Fatalf("driver CUDA 12.4: got %v, refused %q", p, refused)
	}
	if p, _ := s.Pick(13000, false); p != p13 {
		t.Fatalf("driver CUDA 13.0: got %v", p)
	}
	if p, _ := s.Pick(0, false); p != p13 { // unknown driver: the preference order
		t.Fatalf("unknown driver: got %v", p)
	}
	only13 := &Search{Found: []*Plugin{p13}}
	if p, refused := only13.Pick(12020, false); p != nil || refused == "" {
		t.Fatalf("only a CUDA 13 plugin on a CUDA 12.2 driver: got %v %q", p, refused)
	}
}

func TestPickRefusesIncompatiblePJRT(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	old, young := filepath.Join(dir, "old.so"), filepath.Join(dir, "young.so")
	os.WriteFile(old, []byte("old"), 0o644)
	os.WriteFile(young, []byte("young"), 0o644)
	saved := probePJRTPlugin
	defer func() { probePJRTPlugin = saved }()
	probes := 0
	probePJRTPlugin = func(path string, _ ...string) (API, error) {
		probes++
		if path == old {
			return API{Major: 0, Minor: 54, StructSize: 8 + 8 + 24 + 8*90}, nil
		}
		return API{Major: 0, Minor: goXLAPJRTMinor, StructSize: goXLAPJRTNeededSize}, nil
	}
	savedCheck := checkPlugin
	defer func() { checkPlugin = savedCheck }()
	checkPlugin = func(platform, path string, _ ...string) (xlacpu.Report, error) {
		return xlacpu.Report{Platform: platform}, nil
	}
	s := &Search{Found: []*Plugin{{Path: old, Source: "jax"}, {Path: young, Source: "jax"}}}
	p, refused := s.Pick(0, true)
	if p == nil || p.Path != young || !strings.Contains(refused, "PJRT C API 0.54 is too old") || !strings.Contains(refused, goXLAPJRTLastCall) {
		t.Fatalf("got %v, refused %q", p, refused)
	}
	if p.API == nil || p.API.Minor != goXLAPJRTMinor || !strings.Contains(p.String(), "PJRT C API 0.104") {
		t.Fatalf("the API read must be recorded: %v", p)
	}
	s.Pick(0, true) // answers are cached per library
	if probes != 2 {
		t.Fatalf("%d probes for 2 libraries picked twice, want 2", probes)
	}
	if err := (API{Major: 1, StructSize: goXLAPJRTNeededSize}).Compatible(); err == nil {
		t.Fatal("another major version must be refused")
	}
}

func TestPluginVersionsChooseAmongJAXInstalls(t *testing.T) {
	isolate(t)
	venv, user := t.TempDir(), t.TempDir()
	spOld, _ := fakeJAX(t, venv, "13")
	spNew, pNew := fakeJAX(t, user, "13")
	writeDistInfo(t, spOld, "jax_cuda13_pjrt", "0.7.2")
	writeDistInfo(t, spNew, "jax_cuda13_pjrt", "0.10.0")
	writeDistInfo(t, spNew, "jax_cuda13_pjrt", "0.9.1") // a stale dist-info left behind: the newest counts
	t.Setenv("VIRTUAL_ENV", venv)
	t.Setenv("CONDA_PREFIX", user)
	s := Find()
	if len(s.Found) != 2 || s.Found[0].Path != pNew || s.Found[0].Version != "0.10.0" || s.Found[1].Version != "0.7.2" {
		t.Fatalf("want the newest version first wherever it was found: %v", s.Found)
	}
	if !strings.Contains(s.Found[0].String(), "version 0.10.0") {
		t.Errorf("String: %s", s.Found[0])
	}
	// jax_cuda12_plugin's dist-info when the pjrt package has none.
	sp12, _ := fakeJAX(t, t.TempDir(), "12")
	writeDistInfo(t, sp12, "jax_cuda12_plugin", "0.6.0")
	if v := distInfoVersion(sp12, "12"); v != "0.6.0" {
		t.Errorf("jax_cuda12_plugin version: %q", v)
	}
	for _, c := range []struct{ a, b string }{{"0.10.0", "0.9.9"}, {"0.4.31", "0.4.4"}, {"1.0", "0.99"}, {"0.5.1", ""}} {
		if compareVersions(c.a, c.b) <= 0 || compareVersions(c.b, c.a) >= 0 {
			t.Errorf("%s must be newer than %s", c.a, c.b)
		}
	}
}

// TestLinkDirMergesSplitNvidiaFolders: a `pip install --user` over a system JAX puts some NVIDIA wheels in
// ~/.local and others in the system's site-packages; the plugin must see both through ../nvidia.
func TestLinkDirMergesSplitNvidiaFolders(t *testing.T) {
	isolate(t)
	system, user := t.TempDir(), t.TempDir()
	sp, plugin := fakeJAX(t, system, "13")
	userSP := filepath.Join(user, "lib", "python3.12", "site-packages")
	files := map[string]string{
		filepath.Join(sp, "nvidia", "cu13", "lib", "libcudart.so.13"):     "system",
		filepath.Join(userSP, "nvidia", "cu13", "lib", "libcublas.so.13"): "user",
		filepath.Join(userSP, "nvidia", "cudnn", "lib", "libcudnn.so.9"):  "user",
		filepath.Join(userSP, "nvidia", "cu13", "lib", "libcudart.so.13"): "user copy (hidden by the plugin's own)",
	}
	for f, content := range files {
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte(content), 0o644)
	}
	t.Setenv("VIRTUAL_ENV", system)
	t.Setenv("CONDA_PREFIX", user)
	p := Find().Best()
	if p == nil || p.Path != plugin || len(p.NvidiaDirs) != 2 {
		t.Fatalf("plugin %+v", p)
	}
	cache := t.TempDir()
	path, err := p.LinkDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	nv := filepath.Join(filepath.Dir(filepath.Dir(path)), "nvidia")
	for rel, want := range map[string]string{"cu13/lib/libcudart.so.13": "system", "cu13/lib/libcublas.so.13": "user", "cudnn/lib/libcudnn.so.9": "user"} {
		got, err := os.ReadFile(filepath.Join(nv, rel))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", rel, got, err, want)
		}
	}
	if _, err := p.LinkDir(cache); err != nil { // idempotent
		t.Fatal(err)
	}
	// Back to one folder: the merged tree is replaced by a link.
	p.NvidiaDirs = p.NvidiaDirs[:1]
	if _, err := p.LinkDir(cache); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(nv); err != nil || target != filepath.Join(sp, "nvidia") {
		t.Fatalf("nvidia link %q %v", target, err)
	}
}
