// Package npcheck cross-checks GoMLX results against numpy, for the chapter that teaches tensors by
// comparison with numpy arrays.
//
// A check writes the inputs as .npy files (GoMLX's core/tensors/numpy), runs a numpy expression on them
// in a real Python process, reads numpy's result back, and compares it with the Go result: same shape,
// same values (floating point within a tolerance, NaN equal to NaN), and notes a differing dtype. Some
// checks are meant to differ — integer division, type promotion, out-of-range indexing — and say so,
// so the chapter can show where the two libraries part ways.
package npcheck

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/numpy"
	"github.com/gonbgpu/gonbgpu/kernel"
)

// Input is a named tensor made available to the numpy expression under its name.
type Input struct {
	Name   string
	Tensor *tensors.Tensor
}

// In is shorthand for an Input.
func In(name string, t *tensors.Tensor) Input { return Input{name, t} }

// Result is the outcome of one check.
type Result struct {
	Name, Expr string
	Go, NumPy  *tensors.Tensor
	// NumPyError is the exception numpy raised, if any (e.g. an IndexError).
	NumPyError string
	// Equal is true when shapes and values agree.
	Equal bool
	// DTypeNote describes a dtype difference, if any ("go int32, numpy int64").
	DTypeNote string
	// ExpectDiffer marks a check that shows a deliberate difference between the libraries.
	ExpectDiffer bool
	// Why explains an expected difference.
	Why string
}

// AsExpected reports whether the check came out as the chapter says it should.
func (r Result) AsExpected() bool { return r.Equal != r.ExpectDiffer }

// Checker runs checks in a scratch folder with a Python that has numpy.
type Checker struct {
	Dir     string
	Python  string
	Results []Result
}

// FindPython returns a Python interpreter that can import numpy: $GONBGPU_PYTHON, then /usr/bin/python3
// (Debian's, where python3-numpy installs), then the python3 on PATH.
func FindPython() (string, error) {
	var tried []string
	for _, p := range []string{os.Getenv("GONBGPU_PYTHON"), "/usr/bin/python3", "python3"} {
		if p == "" {
			continue
		}
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import numpy").Run() == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Python with numpy found (tried %v): install numpy (apt-get install python3-numpy, or pip install numpy) or set GONBGPU_PYTHON", tried)
}

// New returns a Checker with a fresh scratch folder.
func New() (*Checker, error) {
	py, err := FindPython()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "npcheck-")
	if err != nil {
		return nil, err
	}
	return &Checker{Dir: dir, Python: py}, nil
}

// Close removes the scratch folder.
func (c *Checker) Close() { _ = os.RemoveAll(c.Dir) }

// script evaluates EXPR with the inputs loaded, and saves the result (or the exception) for Go to read.
const script = `
import sys, json, numpy as np
d, names, expr = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
env = {"np": np}
for n in names:
    env[n] = np.load(f"{d}/{n}.npy")
try:
    with np.errstate(all="ignore"):
        r = np.asarray(eval(expr, env))
    np.save(f"{d}/__result.npy", r)
except Exception as e:
    open(f"{d}/__error.txt", "w").write(f"{type(e).__name__}: {e}")
`

// Check compares goResult with numpy's value of expr over the inputs.
func (c *Checker) Check(name, expr string, goResult *tensors.Tensor, inputs ...Input) Result {
	return c.run(Result{Name: name, Expr: expr, Go: goResult}, inputs)
}

// Differs is a check expected to show a difference between GoMLX and numpy; why explains it.
func (c *Checker) Differs(name, expr, why string, goResult *tensors.Tensor, inputs ...Input) Result {
	return c.run(Result{Name: name, Expr: expr, Go: goResult, ExpectDiffer: true, Why: why}, inputs)
}

func (c *Checker) run(r Result, inputs []Input) Result {
	for _, f := range []string{"__result.npy", "__error.txt"} {
		_ = os.Remove(filepath.Join(c.Dir, f))
	}
	var names []string
	for _, in := range inputs {
		if err := numpy.ToNpyFile(in.Tensor, filepath.Join(c.Dir, in.Name+".npy")); err != nil {
			r.NumPyError = "writing " + in.Name + ".npy: " + err.Error()
			c.Results = append(c.Results, r)
			return r
		}
		names = append(names, fmt.Sprintf("%q", in.Name))
	}
	cmd := exec.Command(c.Python, "-c", script, c.Dir, "["+strings.Join(names, ",")+"]", r.Expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		r.NumPyError = fmt.Sprintf("python failed: %v: %s", err, stderr.String())
	} else if msg, err := os.ReadFile(filepath.Join(c.Dir, "__error.txt")); err == nil {
		r.NumPyError = string(msg)
	} else if t, err := numpy.FromNpyFile(filepath.Join(c.Dir, "__result.npy")); err != nil {
		r.NumPyError = "reading numpy's result: " + err.Error()
	} else {
		r.NumPy = t
	}
	if r.Go != nil && r.NumPy != nil {
		r.Equal = sameValues(r.Go, r.NumPy)
		gd, nd := strings.ToLower(r.Go.DType().String()), strings.ToLower(r.NumPy.DType().String())
		if gd != nd {
			r.DTypeNote = fmt.Sprintf("dtype: Go %s, numpy %s", gd, nd)
		}
	}
	c.Results = append(c.Results, r)
	return r
}

// sameValues compares shapes and values: floats within a relative 1e-5 (absolute 1e-6), NaN equal to
// NaN, whatever the dtypes.
func sameValues(a, b *tensors.Tensor) bool {
	if !reflect.DeepEqual(a.Shape().Dimensions, b.Shape().Dimensions) && !(a.Rank() == 0 && b.Rank() == 0) {
		return false
	}
	av, bv := floats(a), floats(b)
	if av == nil || bv == nil || len(av) != len(bv) {
		return false
	}
	for i := range av {
		x, y := av[i], bv[i]
		if math.IsNaN(x) || math.IsNaN(y) {
			if math.IsNaN(x) != math.IsNaN(y) {
				return false
			}
			continue
		}
		if x == y {
			continue
		}
		if math.Abs(x-y) > 1e-6+1e-5*math.Max(math.Abs(x), math.Abs(y)) {
			return false
		}
	}
	return true
}

// floats returns a tensor's values as float64 (bools as 0/1), or nil for unsupported dtypes.
func floats(t *tensors.Tensor) []float64 {
	var out []float64
	err := t.ConstFlatData(func(flat any) {
		v := reflect.ValueOf(flat)
		out = make([]float64, v.Len())
		for i := range out {
			e := v.Index(i)
			switch e.Kind() {
			case reflect.Float32, reflect.Float64:
				out[i] = e.Float()
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				out[i] = float64(e.Int())
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				out[i] = float64(e.Uint())
			case reflect.Bool:
				if e.Bool() {
					out[i] = 1
				}
			default:
				out = nil
				return
			}
		}
	})
	if err != nil {
		return nil
	}
	return out
}

// Verdict is the one-word outcome shown for a result.
func (r Result) Verdict() string {
	switch {
	case r.Equal && !r.ExpectDiffer:
		return "✓ same as numpy"
	case !r.Equal && r.ExpectDiffer:
		return "≠ differs from numpy, as expected"
	case r.Equal && r.ExpectDiffer:
		return "✗ unexpectedly the same as numpy"
	}
	return "✗ DIFFERS from numpy"
}

// Show displays a result: the expression, the Go and numpy values side by side and the verdict.
func (c *Checker) Show(r Result) {
	if !kernel.InNotebook() {
		fmt.Printf("%s — numpy: %s\n", r.Name, r.Expr)
		if r.Go != nil {
			fmt.Print(kernel.TensorText(r.Go, kernel.TensorOptions{Name: "GoMLX"}))
		}
		if r.NumPy != nil {
			fmt.Print(kernel.TensorText(r.NumPy, kernel.TensorOptions{Name: "numpy"}))
		}
		if r.NumPyError != "" {
			fmt.Println("numpy raised:", r.NumPyError)
		}
		fmt.Println(r.Verdict(), r.DTypeNote, r.Why)
		return
	}
	var b strings.Builder
	color := "#0a7d32"
	if !r.AsExpected() {
		color = "#c00"
	} else if r.ExpectDiffer {
		color = "#b35c00"
	}
	fmt.Fprintf(&b, `<div style="border-left:4px solid %s;padding:2px 10px;margin:6px 0">`, color)
	fmt.Fprintf(&b, `<div style="font-weight:bold">%s <span style="font-weight:normal;font-family:monospace;color:#555">numpy: %s</span></div>`,
		html.EscapeString(r.Name), html.EscapeString(r.Expr))
	b.WriteString(`<div style="display:flex;gap:24px;flex-wrap:wrap">`)
	if r.Go != nil {
		b.WriteString("<div>" + kernel.TensorHTML(r.Go, kernel.TensorOptions{Name: "GoMLX"}) + "</div>")
	}
	if r.NumPy != nil {
		b.WriteString("<div>" + kernel.TensorHTML(r.NumPy, kernel.TensorOptions{Name: "numpy"}) + "</div>")
	}
	if r.NumPyError != "" {
		fmt.Fprintf(&b, `<div style="font-family:monospace">numpy raised <b>%s</b></div>`, html.EscapeString(r.NumPyError))
	}
	b.WriteString("</div>")
	fmt.Fprintf(&b, `<div style="color:%s">%s`, color, html.EscapeString(r.Verdict()))
	if r.DTypeNote != "" {
		fmt.Fprintf(&b, ` · %s`, html.EscapeString(r.DTypeNote))
	}
	b.WriteString("</div>")
	if r.Why != "" {
		fmt.Fprintf(&b, `<div style="color:#555">%s</div>`, html.EscapeString(r.Why))
	}
	b.WriteString("</div>")
	kernel.DisplayHTML(b.String())
}

// CheckAndShow runs Check and shows the result.
func (c *Checker) CheckAndShow(name, expr string, goResult *tensors.Tensor, inputs ...Input) Result {
	r := c.Check(name, expr, goResult, inputs...)
	c.Show(r)
	return r
}

// DiffersAndShow runs Differs and shows the result.
func (c *Checker) DiffersAndShow(name, expr, why string, goResult *tensors.Tensor, inputs ...Input) Result {
	r := c.Differs(name, expr, why, goResult, inputs...)
	c.Show(r)
	return r
}

// Summary is one line counting the checks that came out as expected, e.g.
// "numpy agreement: 9/9 checks as expected (7 equal, 2 deliberate differences)".
func (c *Checker) Summary() string {
	ok, equal, differ := 0, 0, 0
	for _, r := range c.Results {
		if r.AsExpected() {
			ok++
			if r.ExpectDiffer {
				differ++
			} else {
				equal++
			}
		}
	}
	return fmt.Sprintf("numpy agreement: %d/%d checks as expected (%d equal, %d deliberate differences)", ok, len(c.Results), equal, differ)
}
