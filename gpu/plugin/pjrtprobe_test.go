package plugin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildFakePJRTPlugin compiles a shared library whose GetPjrtApi returns a table head with the given
// version and size, as a real plugin's would.
func buildFakePJRTPlugin(t *testing.T, major, minor, size string) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler to build a fake plugin (%v): the device machine of scripts/gpu-check.sh has none", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "fake.c")
	code := `#include <stddef.h>
typedef struct { size_t s; void* e; size_t vs; void* ve; int major; int minor; } head;
static head api = {` + size + `, 0, 24, 0, ` + major + `, ` + minor + `};
const head* GetPjrtApi(void) { return &api; }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "xla_cuda_plugin.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building the fake plugin with %s: %v\n%s", cc, err, out)
	}
	return lib
}

// TestPJRTProbeChild runs the real child (this test binary again) on fake plugins: it reads the version
// and table size, and a library without GetPjrtApi or not a library at all is an error, not a crash.
func TestPJRTProbeChild(t *testing.T) {
	lib := buildFakePJRTPlugin(t, "0", "104", "1096")
	api, err := probePJRTPlugin(lib)
	if err != nil || api.Major != 0 || api.Minor != 104 || api.StructSize != 1096 || api.Compatible() != nil {
		t.Fatalf("api %+v err %v", api, err)
	}
	old := buildFakePJRTPlugin(t, "0", "60", "800")
	api, err = probePJRTPlugin(old)
	if err != nil || api.Compatible() == nil {
		t.Fatalf("an old table must be read and refused: %+v %v", api, err)
	}
	notELF := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	os.WriteFile(notELF, []byte("not a library"), 0o644)
	if _, err := probePJRTPlugin(notELF); err == nil || !strings.Contains(err.Error(), "cannot load") {
		t.Fatalf("not a library: %v", err)
	}
}
