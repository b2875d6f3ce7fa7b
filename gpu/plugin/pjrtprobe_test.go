package plugin

import (
	"bufio"
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
	old := buildFakePJRTPlugin(t, "0", "60", "900")
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

// TestPJRTRequirementMatchesGoXLA recomputes goXLAPJRTNeededSize from go-xla's sources in the module
// cache: the last PJRT_Api function its pjrt package calls, and the header's version. It fails when go-xla
// is upgraded and the constants were not. It needs the module's sources (go on PATH), so it skips on a
// machine with only the test binary (the GPU check).
func TestPJRTRequirementMatchesGoXLA(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gomlx/go-xla").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("go-xla's sources are not available here (%v)", err)
	}
	header, err := os.ReadFile(filepath.Join(dir, "pjrt", "pjrt_c_api.h"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(header), "#define PJRT_API_MINOR 104") || !strings.Contains(string(header), "#define PJRT_API_MAJOR 0") {
		t.Fatalf("go-xla's header is not PJRT C API %d.%d: update goXLAPJRTMajor/Minor", goXLAPJRTMajor, goXLAPJRTMinor)
	}
	// Table order of the function fields.
	var fields []string
	sc := bufio.NewScanner(strings.NewReader(string(header)))
	for sc.Scan() {
		if f, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "_PJRT_API_STRUCT_FIELD("); ok {
			fields = append(fields, strings.TrimSuffix(f, ");"))
		}
	}
	// Functions the Go code calls.
	called := map[string]bool{}
	goFiles, _ := filepath.Glob(filepath.Join(dir, "pjrt", "*.go"))
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(filepath.Base(f), "gen_") {
			continue
		}
		data, _ := os.ReadFile(f)
		for _, part := range strings.Split(string(data), "C.call_")[1:] {
			name, _, _ := strings.Cut(part, "(")
			called[name] = true
		}
	}
	last := -1
	for i, f := range fields {
		if called[f] {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("found no PJRT_Api call in go-xla's pjrt package")
	}
	if fields[last] != goXLAPJRTLastCall || goXLAPJRTNeededSize != 8+8+24+8*(last+1) {
		t.Fatalf("go-xla's last call is %s (field %d, %d bytes needed); the constants say %s, %d",
			fields[last], last, 8+8+24+8*(last+1), goXLAPJRTLastCall, goXLAPJRTNeededSize)
	}
}
