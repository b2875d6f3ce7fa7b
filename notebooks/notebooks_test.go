// Package notebooks_test executes every notebook in this folder headless, through the gonbgpu kernelspec
// installed into a temporary Jupyter data dir, on the pure-Go backend, and checks what each one printed.
package notebooks_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/installer"
	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/gonbgpu/gonbgpu/internal/nbrun"
)

// check asserts a notebook's key facts from its executed outputs.
type check func(t *testing.T, nb *ipynb.Notebook, text string)

// checks holds one entry per notebook, registered by each chapter's chNN_test.go: a notebook without one
// fails, so none goes unchecked.
var checks = map[string]check{}

// backendOf returns the backend a notebook's cells announced ("go", "xla:cpu", …), "" if none.
func backendOf(text string) string {
	if m := regexp.MustCompile(`gonbgpu: backend (\S+)`).FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// figuresLabelled asserts every figure names, under its title, the machine and backend that made it:
// "xla:cpu, 4 CPU devices sharing 2 cores, <CPU model>", "go (pure Go), one device: 2 cores of <CPU model>",
// "xla:cuda, 4 × <GPU>".
func figuresLabelled(t *testing.T, text string) {
	t.Helper()
	label := regexp.MustCompile(`\[figure\] [^\n]+\n(xla:cpu, \d+ CPU devices sharing \d+ cores, |go \(pure Go\), one device: \d+ cores of |xla:cuda, \d+ × )[^\n]+ \(x: `)
	if all, labelled := strings.Count(text, "[figure] "), len(label.FindAllString(text, -1)); all == 0 || labelled != all {
		t.Errorf("%d of %d figures say which machine and backend made them", labelled, all)
	}
}

// mustPlot asserts the notebook displayed at least n figures (kernel/plot's).
func mustPlot(t *testing.T, text string, n int) {
	t.Helper()
	if got := strings.Count(text, `class="gonbgpu-figure"`); got < n {
		t.Errorf("%d figure(s) shown, want at least %d", got, n)
	}
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func mustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// mustMatch asserts a regular expression matches and returns its submatches.
func mustMatch(t *testing.T, text, expr string) []string {
	t.Helper()
	m := regexp.MustCompile(expr).FindStringSubmatch(text)
	if m == nil {
		t.Errorf("output has nothing matching %q", expr)
	}
	return m
}

func TestNotebooks(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	sort.Strings(paths)

	data, out := installKernel(t)
	var results []*nbrun.Result
	for _, p := range paths {
		t.Run(strings.TrimSuffix(p, ".ipynb"), func(t *testing.T) {
			chk, ok := checks[p]
			if !ok {
				t.Fatalf("%s has no checks in notebooks_test.go: add its key facts", p)
			}
			committedOutputs(t, p)
			r := nbrun.Run(p, nbrun.Options{
				OutDir:      out,
				Env:         []string{"JUPYTER_DATA_DIR=" + data, "GOMLX_BACKEND=go"},
				CellTimeout: 15 * time.Minute,
				Timeout:     30 * time.Minute,
			})
			results = append(results, r)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			for _, e := range r.Errors {
				t.Errorf("%s: %v", p, e)
			}
			if r.Backend != "go" {
				t.Errorf("%s ran on backend %q, want the pure-Go backend", p, r.Backend)
			}
			richOutputs(t, r.Parsed)
			chk(t, r.Parsed, r.Parsed.AllText())
			t.Logf("%s: %s on %s", p, r.Duration.Round(time.Second), r.Backend)
		})
	}
	t.Logf("\n%s", nbrun.Summary(results))
}

// installKernel installs the kernelspec into a temporary Jupyter data dir, as a user's `make install-kernel`
// would (it records the checkout's XLA CPU plugin, from `make venv`, when there is one), and returns that
// dir and the folder for executed notebooks.
func installKernel(t *testing.T) (data, out string) {
	t.Helper()
	data = t.TempDir()
	var log bytes.Buffer
	wd, _ := os.Getwd()
	res, err := installer.Install(installer.Options{DataDir: data, Checkout: filepath.Dir(wd), Out: &log, NoSystemPackages: true})
	if err != nil {
		t.Fatalf("installing the kernelspec: %v\n%s", err, log.String())
	}
	newerModulesListed(t, res.KernelDir, filepath.Dir(wd))
	out = t.TempDir()
	if d := os.Getenv("GONBGPU_NOTEBOOK_OUT"); d != "" {
		out = d // keep the executed notebooks, e.g. for CI artefacts
	}
	return data, out
}

// TestChapter04OnCPUDevices executes chapter 04 on XLA's CPU backend with its 4 devices, as `make run` does
// on a machine without GPUs, and checks that its multi-device sections come from real runs on 1, 2 and 4
// devices: the device counts the histories recorded, the same global batch, speedups computed from those
// runs. It needs the XLA CPU plugin (`make venv`, which `make test` runs first): without it the kernel
// fails with the plugin's install message. About 7 minutes on 2 cores (a loaded machine).
func TestChapter04OnCPUDevices(t *testing.T) {
	const p = "04-multi-gpu-resnet.ipynb"
	data, out := installKernel(t)
	out = filepath.Join(out, "xla-cpu") // beside TestNotebooks' pure-Go run of the same chapter
	r := nbrun.Run(p, nbrun.Options{
		OutDir:      out,
		Env:         []string{"JUPYTER_DATA_DIR=" + data, "GOMLX_BACKEND=xla:cpu", "GONBGPU_CPU_DEVICES=4"},
		CellTimeout: 15 * time.Minute,
		Timeout:     30 * time.Minute,
	})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, e := range r.Errors {
		t.Errorf("%s: %v", p, e)
	}
	if r.Backend != "xla:cpu" {
		t.Fatalf("%s ran on backend %q, want xla:cpu", p, r.Backend)
	}
	richOutputs(t, r.Parsed)
	checks[p](t, r.Parsed, r.Parsed.AllText())
	t.Logf("%s: %s on %s", p, r.Duration.Round(time.Second), r.Backend)
}

// richOutputs checks every rich output: none is empty (an HTML display cleared at the end, as progress
// bars once were, stays in the saved notebook as an empty output), and each has a text/plain twin for
// viewers that show no HTML.
func richOutputs(t *testing.T, nb *ipynb.Notebook) {
	t.Helper()
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType != "display_data" && o.OutputType != "execute_result" {
				continue
			}
			for mime, v := range o.Data {
				if strings.TrimSpace(string(v)) == "" {
					t.Errorf("cell %d has an empty %s output", i, mime)
				}
			}
			if _, ok := o.Data["text/plain"]; !ok {
				t.Errorf("cell %d has a rich output without a text/plain twin", i)
			}
		}
	}
}

// TestCommittedNotebooks checks the key facts and the rich outputs of the notebooks as committed, without
// running them: what readers see on GitHub must hold what the chapters claim.
func TestCommittedNotebooks(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(p, ".ipynb"), func(t *testing.T) {
			chk, ok := checks[p]
			if !ok {
				t.Fatalf("%s has no checks in notebooks_test.go: add its key facts", p)
			}
			nb, err := ipynb.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			committedOutputs(t, p)
			richOutputs(t, nb)
			chk(t, nb, nb.AllText())
		})
	}
}

// committedOutputs checks that the notebook as committed carries outputs of a real run, with the backend
// it ran on shown, so that readers on GitHub see results without running it.
func committedOutputs(t *testing.T, path string) {
	t.Helper()
	nb, err := ipynb.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if errs := nb.Errors(); len(errs) > 0 {
		t.Errorf("%s is committed with error outputs: %v", path, errs[0])
	}
	withOutput := 0
	for _, c := range nb.Cells {
		if c.CellType == "code" && len(c.Outputs) > 0 {
			withOutput++
		}
	}
	if withOutput == 0 || !strings.Contains(nb.AllText(), "gonbgpu: backend ") {
		t.Errorf("%s is committed without outputs (or without the backend line): run `make notebooks` and commit the result", path)
	}
}
