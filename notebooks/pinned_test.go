package notebooks_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
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
// A file proxy serving a newer version of each stack module (v0.99.0: a go.mod that needs Go 1.99, like
// the GoMLX release that needed a newer Go than the project's) is put in the cells' GOPROXY right before
// the module cache's own entry, where a newer download would be listed. A cell whose `go get` took the
// newest listed version would fail with "requires go >= 1.99"; cells built against the pinned versions
// print them (notebook 00 checks).
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
		newerVersion(t, dir, m, "v0.99.0", pinned)
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

// newerVersion writes, into a file proxy's @v folder for module m, the list (pinned and newer) and a real
// module version newer: its .info, a go.mod that needs Go 1.99, and the zip holding that go.mod.
func newerVersion(t *testing.T, dir, m, newer, pinned string) {
	t.Helper()
	gomod := fmt.Sprintf("module %s\n\ngo 1.99\n", m)
	files := map[string]string{
		"list":          pinned + "\n" + newer + "\n",
		newer + ".info": fmt.Sprintf(`{"Version":%q,"Time":"2026-11-01T00:00:00Z"}`, newer),
		newer + ".mod":  gomod,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(m + "@" + newer + "/go.mod")
	if err == nil {
		_, err = w.Write([]byte(gomod))
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, newer+".zip"), buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
