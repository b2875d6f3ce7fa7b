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

	"github.com/gonbgpu/gonbgpu/install"
	"github.com/gonbgpu/gonbgpu/kernel/ipynb"
	"github.com/gonbgpu/gonbgpu/kernel/nbrun"
)

// check asserts a notebook's key facts from its executed outputs.
type check func(t *testing.T, nb *ipynb.Notebook, text string)

// checks holds one entry per notebook: a notebook without one fails, so none goes unchecked.
var checks = map[string]check{
	"00-setup-check.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		mustContain(t, text, "built with "+pinnedVersions) // not the newer versions the module cache lists
		mustContain(t, text,
			"the gonbgpu kernel compiled and ran this cell",
			"gonbgpu: backend go",
			"setup check: x·xᵀ is correct",
			"square(12) = 144",
			`class="gonbgpu-tensor"`, "x·xᵀ: float32[2,2] on", // the tensor table rendered
			`class="gonbgpu-devices"`, "Memory used / total", // the device table rendered
		)
	},
	"01-tensors-vs-numpy.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		// Every cell that checks against numpy ends with a summary line; all must be "N/N as expected".
		re := regexp.MustCompile(`numpy agreement: (\d+)/(\d+) checks as expected \((\d+) equal, (\d+) deliberate`)
		total, equal, differ := 0, 0, 0
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			if m[1] != m[2] {
				t.Errorf("a cell's numpy checks did not all come out as expected: %s", m[0])
			}
			total += atoi(m[2])
			equal += atoi(m[3])
			differ += atoi(m[4])
		}
		if total < 30 || equal < 20 || differ < 5 {
			t.Errorf("too few numpy checks ran: %d (%d equal, %d differences)", total, equal, differ)
		}
		if strings.Contains(text, "✗") {
			t.Errorf("a check came out wrong (✗ in the output)")
		}
		mustContain(t, text, "rank 0, shape []", "float32[2,2] on go:0", "GoMLX refuses: data types")
		mustPlot(t, text, 1)
	},
	"02-device-placement.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		mustContain(t, text, "GPU available:", "host→device", `class="gonbgpu-devices"`, "MaterializeOnDevice(backend, false, 0)")
		// The CPU/GPU timing table: positive CPU times over growing sizes (the GPU column is "—" here).
		re := regexp.MustCompile(`timing n=(\d+): cpu ([0-9.]+) ms, gpu (—|[0-9.]+ ms)`)
		rows := re.FindAllStringSubmatch(text, -1)
		if len(rows) < 5 {
			t.Fatalf("timing table has %d rows", len(rows))
		}
		prevN := 0
		for _, r := range rows {
			n, ms := atoi(r[1]), atof(r[2])
			if n <= prevN || ms <= 0 {
				t.Errorf("bad timing row %q", r[0])
			}
			prevN = n
		}
		if last, first := atof(rows[len(rows)-1][2]), atof(rows[0][2]); last < 10*first {
			t.Errorf("the largest size (%v ms) should take far longer than the smallest (%v ms)", last, first)
		}
		mustPlot(t, text, 2)
	},
	"03-vanishing-gradients.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		// After training, the plain net's first layer learns far more slowly than the residual net's: its
		// gradient relative to its weights is far smaller (and so is the raw gradient).
		if m := mustMatch(t, text, `first-layer relative gradient after training: plain (\S+), residual (\S+) `); m != nil {
			plain, res := atof(m[1]), atof(m[2])
			if plain <= 0 || res < 10*plain {
				t.Errorf("the plain net's first-layer relative gradient (%g) should be far below the residual net's (%g)", plain, res)
			}
		}
		if m := mustMatch(t, text, `first layer after training: gradient norm plain (\S+), residual (\S+)`); m != nil && atof(m[1]) >= atof(m[2]) {
			t.Errorf("the plain net's first-layer gradient norm (%s) should be below the residual net's (%s)", m[1], m[2])
		}
		if m := mustMatch(t, text, `final training accuracy: plain ([0-9.]+), residual ([0-9.]+)`); m != nil && atof(m[1]) >= atof(m[2]) {
			t.Errorf("the plain net should train worse: plain %s, residual %s", m[1], m[2])
		}
		mustContain(t, text, "resnet56-plain", "first layer at initialisation")
		mustPlot(t, text, 4)
	},
	"04-multi-gpu-resnet.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		if m := mustMatch(t, text, `test accuracy after \d+ epochs: ([0-9.]+) \(chance: 0\.10\)`); m != nil && atof(m[1]) < 0.4 {
			t.Errorf("test accuracy %s is not well above chance (0.10)", m[1])
		}
		rows := regexp.MustCompile(`epoch (\d+): ([0-9.]+) s, (\d+) img/s`).FindAllStringSubmatch(text, -1)
		if len(rows) < 2 {
			t.Errorf("per-epoch time table has %d rows", len(rows))
		}
		for _, r := range rows {
			if atof(r[2]) <= 0 || atof(r[3]) <= 0 {
				t.Errorf("bad epoch row %q", r[0])
			}
		}
		// On the pure-Go backend there is one device: the notebook must say so, and show no invented
		// multi-device figures.
		mustContain(t, text, "This backend has one device", "device counts to compare: [1]", "folder run: test accuracy")
		if regexp.MustCompile(`(?m)^\s+[2-9]\s+[0-9.]+\s+\d+\s+[0-9.]+\s+[0-9.]+x`).MatchString(text) {
			t.Errorf("a multi-device row appeared with only one device")
		}
		mustPlot(t, text, 1)
		if !strings.Contains(text, `class="gonbgpu-confusion"`) {
			t.Errorf("no confusion matrix")
		}
	},
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

	// Install the kernelspec into a temporary Jupyter data dir, as a user's `make install-kernel` would.
	data := t.TempDir()
	var log bytes.Buffer
	wd, _ := os.Getwd()
	res, err := install.Install(install.Options{DataDir: data, Checkout: filepath.Dir(wd), Out: &log, NoSystemPackages: true})
	if err != nil {
		t.Fatalf("installing the kernelspec: %v\n%s", err, log.String())
	}
	newerModulesListed(t, res.KernelDir, filepath.Dir(wd))
	out := t.TempDir()
	if d := os.Getenv("GONBGPU_NOTEBOOK_OUT"); d != "" {
		out = d // keep the executed notebooks, e.g. for CI artefacts
	}
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
			chk(t, r.Parsed, r.Parsed.AllText())
			t.Logf("%s: %s on %s", p, r.Duration.Round(time.Second), r.Backend)
		})
	}
	t.Logf("\n%s", nbrun.Summary(results))
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
