package nbrun

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const minimalNotebook = `{"cells": [{"cell_type": "code", "execution_count": null, "id": "a", "metadata": {}, "outputs": [],
 "source": ["%%\n", "fmt.Println(1)\n"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
`

// TestOutDirNeverHoldsInputs: an --out that is the notebooks' folder, a folder above it, the notebook
// itself, or any of those through a symbolic link, is refused before anything is written; folders beside
// or below the inputs are fine.
func TestOutDirNeverHoldsInputs(t *testing.T) {
	root := t.TempDir()
	nbDir := filepath.Join(root, "notebooks")
	if err := os.Mkdir(nbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(nbDir, "00-setup-check.ipynb")
	if err := os.WriteFile(nb, []byte(minimalNotebook), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nbDir, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(t.TempDir(), "rootlink")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(nbDir)

	refused := map[string]string{
		"same folder":             nbDir,
		"dot":                     ".",
		"parent":                  root,
		"dot-dot":                 "..",
		"the notebook itself":     nb,
		"symlink to the folder":   filepath.Join(root, "link"),
		"trailing slash":          nbDir + "/",
		"through a symlink above": filepath.Join(root, "link", "..", "notebooks"),
	}
	for name, out := range refused {
		t.Run("refuse/"+name, func(t *testing.T) {
			err := CheckOutDir(out, "00-setup-check.ipynb")
			if err == nil || !strings.Contains(err.Error(), "--out") || !strings.Contains(err.Error(), "00-setup-check.ipynb") {
				t.Errorf("--out %s: got %v, want a refusal naming --out and the notebook", out, err)
			}
		})
	}
	allowed := []string{filepath.Join(root, "out"), filepath.Join(nbDir, "out"), "out", "../out-new/deeper"}
	for _, out := range allowed {
		if err := CheckOutDir(out, "00-setup-check.ipynb"); err != nil {
			t.Errorf("--out %s refused: %v", out, err)
		}
	}

	// Through Run: the source stays byte for byte, nothing is created beside it.
	before, _ := os.ReadFile(nb)
	for _, out := range []string{".", nbDir, root, nb} {
		r := Run("00-setup-check.ipynb", Options{OutDir: out})
		if r.Err == nil || !strings.Contains(r.Err.Error(), "holds the input notebook") {
			t.Errorf("Run with OutDir %s: err %v, want a refusal", out, r.Err)
		}
		if after, err := os.ReadFile(nb); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("Run with OutDir %s changed or removed the input notebook (%v)", out, err)
		}
		entries, _ := os.ReadDir(nbDir)
		if len(entries) != 1 {
			t.Errorf("Run with OutDir %s left %d entries in the notebooks' folder, want only the notebook", out, len(entries))
		}
	}
}

// TestNotebooksCommandRefusesOutOverInputs runs `gonbgpu notebooks --out notebooks` as a user would and
// checks that it fails at once with one line, leaving the notebook untouched.
func TestNotebooksCommandRefusesOutOverInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gonbgpu command")
	}
	root := t.TempDir()
	nbDir := filepath.Join(root, "notebooks")
	if err := os.Mkdir(nbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(nbDir, "a.ipynb")
	if err := os.WriteFile(nb, []byte(minimalNotebook), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "gonbgpu")
	build := exec.Command("go", "build", "-o", bin, "github.com/gonbgpu/gonbgpu/cmd/gonbgpu")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building gonbgpu: %v\n%s", err, out)
	}
	for _, out := range []string{"notebooks", "."} {
		cmd := exec.Command(bin, "notebooks", "--out", out, "notebooks/a.ipynb")
		cmd.Dir = root
		got, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(got), "holds the input notebook") {
			t.Errorf("gonbgpu notebooks --out %s: err %v, output:\n%s", out, err, got)
		}
		if data, err := os.ReadFile(nb); err != nil || string(data) != minimalNotebook {
			t.Fatalf("gonbgpu notebooks --out %s changed or removed the notebook (%v)", out, err)
		}
	}
}
