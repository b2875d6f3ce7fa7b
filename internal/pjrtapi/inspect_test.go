package pjrtapi

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildLib compiles C code into a shared library in a temporary folder.
func buildLib(t *testing.T, code string) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "lib.c")
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libpjrt_cpu.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building a test library with %s (make test needs a C compiler, as cgo does): %v\n%s", cc, err, out)
	}
	return lib
}

const fakePlugin = `#include <stddef.h>
typedef struct { size_t s; void* e; size_t vs; void* ve; int major; int minor; } head;
static head api = {1096, 0, 24, 0, 0, 106};
const head* GetPjrtApi(void) { return &api; }
`

// TestInspectRefusesWhatCannotLoad: each kind of bad file gets its own sentence naming it, before any
// dlopen; a good fake plugin passes, and Load then reads its API.
func TestInspectRefusesWhatCannotLoad(t *testing.T) {
	good := buildLib(t, fakePlugin)
	if err := Inspect(good); err != nil {
		t.Fatalf("a well-formed plugin: %v", err)
	}
	api, table, err := Load(good)
	if err != nil || api.Minor != 106 || api.StructSize != 1096 || table == 0 {
		t.Fatalf("Load: %+v %x %v", api, table, err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := append([]byte(nil), data...)
	other[18], other[19] = 0xb7, 0x00 // e_machine: EM_AARCH64
	cases := []struct{ path, want string }{
		{write("cut.so", data[:len(data)/2]), "cut-short"},
		{write("head.so", data[:100]), "cut-short"},
		{write("arm64.so", other), "built for EM_AARCH64"},
		{write("text.so", []byte("<html>404 Not Found</html>")), "not a shared library"},
		{write("empty.so", nil), "not a shared library"},
		{buildLib(t, "int not_pjrt(void) { return 1; }\n"), "exports no GetPjrtApi"},
		{dir, "not a regular file"},
		{filepath.Join(dir, "missing.so"), "no such file"},
	}
	for _, c := range cases {
		err := Inspect(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: want an error with %q naming the file, got %v", filepath.Base(c.path), c.want, err)
		}
		if _, _, err := Load(c.path); err == nil {
			t.Errorf("%s: Load must refuse it too", filepath.Base(c.path))
		}
	}
}

// TestCompatible: the major version must be go-xla's, and the table must reach the last call, to the slot.
func TestCompatible(t *testing.T) {
	if err := (API{Major: 0, Minor: 106, StructSize: GoXLANeededSize}).Compatible(); err != nil {
		t.Errorf("0.106: %v", err)
	}
	if err := (API{Major: 0, Minor: 90, StructSize: GoXLANeededSize - 8}).Compatible(); err == nil || !strings.Contains(err.Error(), GoXLALastCall) {
		t.Errorf("a table one slot short of %s: %v", GoXLALastCall, err)
	}
	if err := (API{Major: 0, Minor: 40, StructSize: 640}).Compatible(); err == nil || !strings.Contains(err.Error(), "0.40 is too old") {
		t.Errorf("0.40: %v", err)
	}
	if err := (API{Major: 1, Minor: 0, StructSize: 4096}).Compatible(); err == nil || !strings.Contains(err.Error(), "major version") {
		t.Errorf("1.0: %v", err)
	}
}
