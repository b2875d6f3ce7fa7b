package kerneltest_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
)

// runBatch runs a batch command (papermill, nbconvert) in dir with the install's kernelspec, under a
// hang guard, and returns its combined output and error.
func runBatch(t *testing.T, data, dir string, guard time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, kerneltest.Env(data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s: %s, %v", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Second), err)
	if ctx.Err() != nil {
		t.Fatalf("still running after %s (killed):\n%s", guard, lastLines(string(out), 40))
	}
	return string(out), err
}

// failing is a notebook whose second cell panics; its third cell must never run.
const failing = `{"cells": [
 {"cell_type": "code", "execution_count": null, "id": "a1", "metadata": {}, "outputs": [], "source": "import \"fmt\"\n\n%%\nfmt.Println(\"first cell ran\")"},
 {"cell_type": "code", "execution_count": null, "id": "a2", "metadata": {}, "outputs": [], "source": "func mustPositive(n int) int {\n\tif n <= 0 {\n\t\tpanic(fmt.Sprintf(\"mustPositive: got %d\", n))\n\t}\n\treturn n\n}\n\n%%\nfmt.Println(mustPositive(-3))"},
 {"cell_type": "code", "execution_count": null, "id": "a3", "metadata": {}, "outputs": [], "source": "import \"os\"\n\n%%\nos.WriteFile(\"third-cell-ran\", nil, 0o644)"}
 ],
 "metadata": {"kernelspec": {"display_name": "Go (gonbgpu)", "language": "go", "name": "gonbgpu"}, "language_info": {"name": "go"}},
 "nbformat": 4, "nbformat_minor": 5}
`

// notCompiling is failing with a cell that does not compile instead of one that panics.
const notCompiling = `{"cells": [
 {"cell_type": "code", "execution_count": null, "id": "a1", "metadata": {}, "outputs": [], "source": "import \"fmt\"\n\n%%\nfmt.Println(\"first cell ran\")"},
 {"cell_type": "code", "execution_count": null, "id": "a2", "metadata": {}, "outputs": [], "source": "%%\nx := 1\nfmt.Println(y)"},
 {"cell_type": "code", "execution_count": null, "id": "a3", "metadata": {}, "outputs": [], "source": "import \"os\"\n\n%%\nos.WriteFile(\"third-cell-ran\", nil, 0o644)"}
 ],
 "metadata": {"kernelspec": {"display_name": "Go (gonbgpu)", "language": "go", "name": "gonbgpu"}, "language_info": {"name": "go"}},
 "nbformat": 4, "nbformat_minor": 5}
`

// TestBatchRunners runs notebooks the way batch jobs do, with the pinned Jupyter of the checkout's .venv:
// chapter 3 under papermill (install/python/papermill_go.py, which gives papermill a Go translator) with
// an injected parameters cell that cuts its training to one epoch; chapter 0 under `jupyter nbconvert
// --execute`; and a notebook with a panicking cell, and one with a cell that does not compile, under both,
// which must stop at that cell with a non-zero exit and the panic, or the compiler's lines, in what they
// print.
func TestBatchRunners(t *testing.T) {
	data := kerneltest.Install(t)
	python := kerneltest.Python(t)
	jupyter := kerneltest.VenvBin(t, "jupyter")
	papermillGo := filepath.Join(kerneltest.Checkout(), "install", "python", "papermill_go.py")
	chapter := func(name string) string { return filepath.Join(kerneltest.Checkout(), "notebooks", name) }

	t.Run("papermill, chapter 3 with epochs=1", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "03-out.ipynb")
		log, err := runBatch(t, data, dir, 20*time.Minute, python, papermillGo, chapter("03-vanishing-gradients.ipynb"), out,
			"-k", "gonbgpu", "-p", "epochs", "1", "--cwd", dir, "--no-progress-bar")
		if err != nil {
			t.Fatalf("papermill failed: %v\n%s", err, lastLines(log, 40))
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var tagged struct {
			Cells []struct {
				Metadata struct{ Tags []string }
				Source   ipynb.Text
			}
		}
		if err := json.Unmarshal(raw, &tagged); err != nil {
			t.Fatal(err)
		}
		injected := ""
		for _, c := range tagged.Cells {
			for _, tag := range c.Metadata.Tags {
				if tag == "injected-parameters" {
					injected = string(c.Source)
				}
			}
		}
		if !strings.Contains(injected, "var epochs = 1") {
			t.Errorf("no injected parameters cell declaring `var epochs = 1`, got %q", injected)
		}
		nb, err := ipynb.Parse(out, raw)
		if err != nil {
			t.Fatal(err)
		}
		if errs := nb.Errors(); len(errs) > 0 {
			t.Errorf("the executed chapter has errors: %v", errs)
		}
		// Each training run of the chapter saved its history: one epoch each, as injected.
		histories, _ := filepath.Glob(filepath.Join(dir, "runs", "03-vanishing-gradients", "*", "history.json"))
		if len(histories) == 0 {
			t.Fatalf("the chapter saved no training history under %s", dir)
		}
		for _, h := range histories {
			var hist struct{ Epochs []json.RawMessage }
			if data, err := os.ReadFile(h); err != nil || json.Unmarshal(data, &hist) != nil {
				t.Fatalf("reading %s: %v", h, err)
			}
			if len(hist.Epochs) != 1 {
				t.Errorf("%s: %d epochs, want the injected 1", h, len(hist.Epochs))
			}
		}
	})

	t.Run("nbconvert --execute, chapter 0", func(t *testing.T) {
		dir := t.TempDir()
		log, err := runBatch(t, data, dir, 15*time.Minute, jupyter, "nbconvert", "--to", "notebook", "--execute",
			"--ExecutePreprocessor.kernel_name=gonbgpu", "--output-dir", dir, "--output", "00-out.ipynb", chapter("00-setup-check.ipynb"))
		if err != nil {
			t.Fatalf("nbconvert failed: %v\n%s", err, lastLines(log, 40))
		}
		nb, err := ipynb.Read(filepath.Join(dir, "00-out.ipynb"))
		if err != nil {
			t.Fatal(err)
		}
		if errs := nb.Errors(); len(errs) > 0 {
			t.Errorf("the executed chapter has errors: %v", errs)
		}
		if text := nb.AllText(); !strings.Contains(text, "setup check: x·xᵀ is correct") {
			t.Errorf("the executed chapter does not say its check passed:\n%s", text)
		}
	})

	for _, nbc := range []struct {
		name, notebook string
		want           []string // in what the runner prints
		saved          string   // the start of the one error papermill's saved notebook holds
	}{
		{"a failing cell stops the run", failing, []string{"panic", "mustPositive: got -3", "goroutine 1 [running]"}, "panic: mustPositive: got -3"},
		{"a cell that does not compile stops the run", notCompiling, []string{"Line 2: declared and not used: x", "Line 3: undefined: y"}, "compile error: Cell["},
	} {
		t.Run(nbc.name, func(t *testing.T) {
			for _, runner := range []string{"papermill", "nbconvert"} {
				t.Run(runner, func(t *testing.T) {
					dir := t.TempDir()
					in, out := filepath.Join(dir, "failing.ipynb"), filepath.Join(dir, "failing-out.ipynb")
					if err := os.WriteFile(in, []byte(nbc.notebook), 0o644); err != nil {
						t.Fatal(err)
					}
					var log string
					var err error
					if runner == "papermill" {
						log, err = runBatch(t, data, dir, 10*time.Minute, python, papermillGo, in, out, "--cwd", dir, "--no-progress-bar")
					} else {
						log, err = runBatch(t, data, dir, 10*time.Minute, jupyter, "nbconvert", "--to", "notebook", "--execute",
							"--output-dir", dir, "--output", "failing-out.ipynb", in)
					}
					if err == nil {
						t.Fatalf("%s exited 0 on a notebook whose second cell fails:\n%s", runner, lastLines(log, 30))
					}
					for _, want := range nbc.want {
						if !strings.Contains(log, want) {
							t.Errorf("%s's output does not show the cell's error (%q):\n%s", runner, want, lastLines(log, 40))
						}
					}
					if _, err := os.Stat(filepath.Join(dir, "third-cell-ran")); err == nil {
						t.Errorf("%s went on to the cell after the failing one", runner)
					}
					if runner == "papermill" { // papermill saves the notebook as far as it ran
						nb, err := ipynb.Read(out)
						if err != nil {
							t.Fatal(err)
						}
						errs := nb.Errors()
						if len(errs) != 1 || !strings.HasPrefix(errs[0].Message, nbc.saved) {
							t.Errorf("the saved notebook should hold one error, %q…; it holds %v", nbc.saved, errs)
						}
					}
				})
			}
		})
	}
	kerneltest.NoProcessesLeft(t, data, 2*time.Minute)
}
