package kerneltest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/installer"
	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
)

// listedSpec is one entry of `jupyter kernelspec list --json`.
type listedSpec struct {
	ResourceDir string `json:"resource_dir"`
	Spec        struct {
		DisplayName string `json:"display_name"`
		Language    string `json:"language"`
	} `json:"spec"`
}

// jupyterOut runs the environment's `jupyter args…` with data as the Jupyter data folder.
func jupyterOut(t *testing.T, jupyter, data string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(jupyter, args...)
	cmd.Env = kerneltest.Env(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jupyter %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func kernelspecList(t *testing.T, jupyter, data string) map[string]listedSpec {
	t.Helper()
	out := jupyterOut(t, jupyter, data, "kernelspec", "list", "--json")
	var v struct{ Kernelspecs map[string]listedSpec }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("jupyter kernelspec list --json printed %q: %v", out, err)
	}
	return v.Kernelspecs
}

// treeHashes maps every file under dir (relative path) to its SHA-256.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	h := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, p)
		h[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return h
}

// TestKernelspecList installs the kernel into a Jupyter data folder that already holds another kernel,
// then asks the pinned Jupyter (`jupyter kernelspec list`): gonbgpu is listed, at the folder installed,
// with its display name and language; every kernelspec Jupyter listed before (the other kernel, the
// environment's and the system's) is still listed with the same files; nothing else in the data folder
// changed.
func TestKernelspecList(t *testing.T) {
	jupyter := kerneltest.VenvBin(t, "jupyter")
	data := t.TempDir()
	other := filepath.Join(data, "kernels", "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "kernel.json"),
		[]byte(`{"argv": ["other-kernel", "-f", "{connection_file}"], "display_name": "Other", "language": "other"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := kernelspecList(t, jupyter, data)
	if _, ok := before[kernelspec.Name]; ok {
		t.Fatalf("a %s kernelspec is listed before the install: %v", kernelspec.Name, before[kernelspec.Name].ResourceDir)
	}
	files := map[string]map[string]string{}
	for name, s := range before {
		files[name] = treeHashes(t, s.ResourceDir)
	}
	dataBefore := treeHashes(t, data)

	var log bytes.Buffer
	if _, err := installer.Install(installer.Options{DataDir: data, Checkout: kerneltest.Checkout(), NoSystemPackages: true, Out: &log}); err != nil {
		t.Fatalf("installing: %v\n%s", err, log.String())
	}

	after := kernelspecList(t, jupyter, data)
	g, ok := after[kernelspec.Name]
	switch {
	case !ok:
		t.Fatalf("`jupyter kernelspec list` does not list %s after the install: %v", kernelspec.Name, slices.Sorted(maps.Keys(after)))
	case g.ResourceDir != filepath.Join(data, "kernels", kernelspec.Name):
		t.Errorf("%s is listed at %s, want %s", kernelspec.Name, g.ResourceDir, filepath.Join(data, "kernels", kernelspec.Name))
	case g.Spec.DisplayName != kernelspec.DisplayName || g.Spec.Language != "go":
		t.Errorf("%s is listed as %q, language %q; want %q, \"go\"", kernelspec.Name, g.Spec.DisplayName, g.Spec.Language, kernelspec.DisplayName)
	}
	// What a user types.
	plain := jupyterOut(t, jupyter, data, "kernelspec", "list")
	found := false
	for _, line := range strings.Split(string(plain), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == kernelspec.Name && f[1] == g.ResourceDir {
			found = true
		}
	}
	if !found {
		t.Errorf("`jupyter kernelspec list` does not show %s at %s:\n%s", kernelspec.Name, g.ResourceDir, plain)
	}

	for name, s := range before {
		a, ok := after[name]
		if !ok {
			t.Errorf("kernelspec %s (%s) is no longer listed after the install", name, s.ResourceDir)
			continue
		}
		if a.ResourceDir != s.ResourceDir || !maps.Equal(treeHashes(t, a.ResourceDir), files[name]) {
			t.Errorf("the install changed kernelspec %s (%s)", name, s.ResourceDir)
		}
	}
	for name, a := range after {
		if _, ok := before[name]; !ok && name != kernelspec.Name {
			t.Errorf("the install added kernelspec %s (%s)", name, a.ResourceDir)
		}
	}
	own := filepath.Join("kernels", kernelspec.Name) + string(filepath.Separator)
	for rel, sum := range treeHashes(t, data) {
		if !strings.HasPrefix(rel, own) && dataBefore[rel] != sum {
			t.Errorf("the install wrote %s in the Jupyter data folder, outside its kernelspec", rel)
		}
	}
	t.Logf("listed before: %v; after: %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
}
