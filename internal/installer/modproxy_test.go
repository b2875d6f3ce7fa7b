package installer

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/sumdb/note"
)

// TestPinnedProxyCellOffline builds a cell the way GoNB does (its own module, in a go.work with the
// checkout) with the proxies a kernelspec gives cells, except that the user's proxy is "off", the checksum
// database unreachable, and a proxy listing newer GoMLX and compute versions sits where the user's module
// cache is: the cell must resolve its GoMLX import to exactly the checkout's versions, and build, with no
// network: the cells' checksums for the pinned modules come from the module cache (GONOSUMDB), which
// `go mod download` filled and checked against the checkout's go.sum at install.
func TestPinnedProxyCellOffline(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	co := checkout(t)
	m := &manifest{dir: t.TempDir(), Files: map[string]string{}}
	proxy, mods, err := writePinnedProxy(m, goCmd, co)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, mod := range mods {
		pinned[mod.Path] = mod.Version
	}
	for _, want := range []string{"github.com/gomlx/gomlx", "github.com/gomlx/compute", "github.com/janpfeifer/gonb"} {
		if pinned[want] == "" {
			t.Fatalf("the pinned proxy lacks %s: %v", want, mods)
		}
		if data, err := os.ReadFile(filepath.Join(proxy, filepath.FromSlash(want), "@v", "list")); err != nil || string(data) != pinned[want]+"\n" {
			t.Errorf("%s list: %q, %v", want, data, err)
		}
	}

	// The "user's module cache", listing versions newer than the pinned ones.
	newer := t.TempDir()
	for _, mod := range []string{"github.com/gomlx/gomlx", "github.com/gomlx/compute"} {
		dir := filepath.Join(newer, filepath.FromSlash(mod), "@v")
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "list"), []byte(pinned[mod]+"\nv0.99.0\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "v0.99.0.info"), []byte(`{"Version":"v0.99.0"}`), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "v0.99.0.mod"), []byte("module "+mod+"\n\ngo 1.99\n"), 0o644))
	}

	// The cell module, as GoNB lays it out.
	cell := t.TempDir()
	_, vkey, err := note.GenerateKey(rand.Reader, "gonbgpu-test.invalid")
	must(t, err)
	env := append(os.Environ(), buildEnv(co)...)
	env = append(env,
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(newer)+",off",
		// No network, and a fresh module cache as far as checksums go: a checksum database of its own name
		// (so no answer cached for sum.golang.org counts), at an address where nothing listens.
		"GOSUMDB="+vkey+" http://127.0.0.1:9",
		"GONOSUMDB="+noSumDB(mods), // as the kernelspec sets it
		"GOFLAGS=", "GOWORK=")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goCmd, args...)
		cmd.Dir, cmd.Env = cell, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "init", "gonb_cell")
	run("work", "init")
	run("work", "use", ".", co)
	run("mod", "edit", "-replace", "github.com/gonbgpu/gonbgpu="+co)
	must(t, os.WriteFile(filepath.Join(cell, "main.go"), []byte(`package main

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

func main() { fmt.Println(graph.Add, dtypes.Float32) }
`), 0o644))
	run("get")
	run("build", "-o", os.DevNull, ".")

	data, err := os.ReadFile(filepath.Join(cell, "go.mod"))
	must(t, err)
	f, err := modfile.Parse("go.mod", data, nil)
	must(t, err)
	got := map[string]string{}
	for _, r := range f.Require {
		got[r.Mod.Path] = r.Mod.Version
	}
	for _, mod := range []string{"github.com/gomlx/gomlx", "github.com/gomlx/compute"} {
		if got[mod] != pinned[mod] {
			t.Errorf("the cell requires %s %s, want the checkout's %s", mod, got[mod], pinned[mod])
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestParsePinned(t *testing.T) {
	mods, err := parsePinned("github.com/a/b v1.2.3\n\ngolang.org/x/mod v0.41.0\n")
	if err != nil || len(mods) != 2 || mods[1].Version != "v0.41.0" {
		t.Fatalf("%v %v", mods, err)
	}
	for _, bad := range []string{"", "github.com/a/b", "github.com/a/b 1.2.3", "../x v1.0.0"} {
		if _, err := parsePinned(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
