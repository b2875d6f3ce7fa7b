package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// pinnedCPUPlugin is the pinned XLA CPU plugin as gonbgpu finds it (`make test` runs `make venv` first).
func pinnedCPUPlugin(t *testing.T) string {
	t.Helper()
	s := xlacpu.Find(xlacpu.DefaultPlaces())
	if len(s.Found) == 0 {
		t.Fatalf("%s\n(the tests need the pinned plugin: run `make venv`)", s.NotFoundMessage())
	}
	return s.Found[0].Path
}

// TestPickCPU runs the real child check (this test binary again) on the pinned plugin and on broken
// copies of it: the good one passes and is kept in the cache; a truncated copy, a copy marked for another
// architecture, a library with a PJRT table older than go-xla calls, and a file that is no library are
// each passed over with one sentence, and none of them crashes this process.
func TestPickCPU(t *testing.T) {
	good := pinnedCPUPlugin(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) *xlacpu.Plugin {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return &xlacpu.Plugin{Path: p}
	}
	arm := append([]byte(nil), data...)
	arm[18], arm[19] = 0xb7, 0x00 // e_machine: EM_AARCH64
	old := &xlacpu.Plugin{Path: buildFakePJRTPlugin(t, "0", "40", "640")}
	bad := []*xlacpu.Plugin{
		write("cut.so", data[:len(data)/3]),
		write("arm64.so", arm),
		old,
		write("page.so", []byte("<html>Service Unavailable</html>")),
	}
	cache := t.TempDir()
	p, r, refused := PickCPU(&xlacpu.Search{Found: append(bad, &xlacpu.Plugin{Path: good})}, cache)
	if p == nil || p.Path != good || !r.Usable() || r.Platform != "cpu" {
		t.Fatalf("the pinned plugin must pass after the broken ones: %v %+v\n%s", p, r, refused)
	}
	for _, want := range []string{"cut.so is a damaged or cut-short shared library", "arm64.so is built for EM_AARCH64",
		"PJRT C API 0.40 is too old", "page.so is not a shared library"} {
		if !strings.Contains(refused, want) {
			t.Errorf("refusals lack %q:\n%s", want, strings.ReplaceAll(refused, "; ", "\n"))
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "plugin-cpu.json")); err != nil {
		t.Errorf("the verdict was not kept: %v", err)
	}
	// Only broken ones: none chosen, every reason given.
	p, _, refused = PickCPU(&xlacpu.Search{Found: bad}, cache)
	if p != nil {
		t.Errorf("broken plugins only: %v chosen", p)
	}
	for _, b := range bad {
		if !strings.Contains(refused, b.Path) {
			t.Errorf("broken plugins only: no reason for %s in %q", b.Path, refused)
		}
	}
}
