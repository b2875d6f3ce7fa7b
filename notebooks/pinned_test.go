package notebooks_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/kernel"
	"golang.org/x/mod/module"
)

// pinnedVersions is what kernel.Versions prints for the checkout's pinned stack, set by newerModulesListed.
var pinnedVersions string

// newerModulesListed makes the installed kernelspec's cells see a module cache that lists newer versions
// of GoMLX's modules than the checkout pins — as a student's shared module cache does once any other Go
// work downloaded one — and returns the versions cells must still be built with.
//
// A file proxy naming a newer version of each stack module (v0.99.0, which does not exist) is put in
// the cells' GOPROXY right before the module cache's own entry, where a newer download would be listed.
// A cell's `go get` that took the newest listed version would fail to find it; cells built against the
// pinned versions print them (notebook 00 checks).
func newerModulesListed(t *testing.T, kernelDir, checkout string) string {
	t.Helper()
	var want []string
	fake := t.TempDir()
	for _, m := range kernel.StackModules {
		out, err := exec.Command("go", "list", "-C", checkout, "-m", "-f", "{{.Version}}", m).Output()
		if err != nil {
			t.Fatalf("go list -m %s: %v", m, err)
		}
		pinned := strings.TrimSpace(string(out))
		want = append(want, m+" "+pinned)
		escaped, err := module.EscapePath(m)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(fake, filepath.FromSlash(escaped), "@v")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "list"), []byte(pinned+"\nv0.99.0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(kernelDir, "kernel.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	env, _ := spec["env"].(map[string]any)
	proxies := strings.Split(env["GOPROXY"].(string), ",")
	var out []string
	inserted := false
	for _, p := range proxies {
		if !inserted && strings.HasSuffix(p, "/cache/download") {
			out = append(out, "file://"+filepath.ToSlash(fake))
			inserted = true
		}
		out = append(out, p)
	}
	if !inserted {
		t.Fatalf("the kernelspec's GOPROXY has no module-cache entry: %q", env["GOPROXY"])
	}
	env["GOPROXY"] = strings.Join(out, ",")
	if data, err = json.MarshalIndent(spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	pinnedVersions = strings.Join(want, ", ")
	t.Logf("cells' GOPROXY: %s", env["GOPROXY"])
	return pinnedVersions
}
