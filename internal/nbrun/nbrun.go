// Package nbrun executes notebooks headless through an installed kernelspec, the way Jupyter would, and
// reports what happened: `make run` and the notebook tests both go through it, so what CI checks is what
// a user gets.
//
// Each notebook is run by `jupyter nbconvert --execute` (nbclient underneath) into an executed .ipynb,
// which is then parsed for errors and the backend it ran on, and optionally exported to HTML.
package nbrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
)

// Options configure a run.
type Options struct {
	// OutDir receives NAME.ipynb (executed) and, with HTML, NAME.html. Required.
	OutDir string

	// Kernel is the kernelspec name; default "gonbgpu".
	Kernel string

	// Env is added to the environment of Jupyter and so of the kernel (e.g. JUPYTER_DATA_DIR=…,
	// GOMLX_BACKEND=go).
	Env []string

	// CellTimeout bounds each cell; default 20 minutes.
	CellTimeout time.Duration

	// Timeout bounds the whole notebook; default 60 minutes.
	Timeout time.Duration

	// HTML also exports the executed notebook to HTML.
	HTML bool

	// Log, if set, receives Jupyter's own output (kernel logs included), for debugging.
	Log io.Writer
}

// Result is the outcome of running one notebook.
type Result struct {
	Notebook string            // source path
	Executed string            // executed .ipynb path ("" if none was written)
	HTML     string            // exported .html path, if any
	Backend  string            // backend the cells announced ("go", "xla:cuda", …), "" if none
	Duration time.Duration     // wall time of the execution
	Errors   []ipynb.CellError // errors found in the executed notebook
	Parsed   *ipynb.Notebook   // the executed notebook
	Err      error             // a failure to run at all (Jupyter missing, timeout, …)
}

// Status is "ok", "errors" or "failed".
func (r *Result) Status() string {
	switch {
	case r.Err != nil:
		return "failed"
	case len(r.Errors) > 0:
		return "errors"
	}
	return "ok"
}

// OK reports whether the notebook ran with no error output.
func (r *Result) OK() bool { return r.Status() == "ok" }

var backendRe = regexp.MustCompile(`gonbgpu: backend (\S+)`)

// Run executes one notebook.
func Run(path string, o Options) *Result {
	if o.Kernel == "" {
		o.Kernel = kernelspec.Name
	}
	if o.CellTimeout == 0 {
		o.CellTimeout = 20 * time.Minute
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Minute
	}
	r := &Result{Notebook: path}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := CheckOutDir(o.OutDir, path); err != nil {
		r.Err = err
		return r
	}
	jup, err := exec.LookPath("jupyter")
	if err != nil {
		r.Err = fmt.Errorf("jupyter is not on PATH (run `make install-kernel`, which installs it): %w", err)
		return r
	}
	if _, err := ipynb.Read(path); err != nil {
		r.Err = err
		return r
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		r.Err = err
		return r
	}
	absOut, _ := filepath.Abs(o.OutDir)
	name := strings.TrimSuffix(filepath.Base(path), ".ipynb")
	executed := filepath.Join(absOut, name+".ipynb")
	_ = os.Remove(executed)

	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, jup, "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
		"--ExecutePreprocessor.kernel_name="+o.Kernel,
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(o.CellTimeout.Seconds())),
		"--output-dir", absOut, "--output", name+".ipynb", path)
	// Cells run with the notebook's folder as working directory, as in Jupyter.
	cmd.Dir = filepath.Dir(path)
	cmd.Env = append(os.Environ(), o.Env...)
	var logBuf bytes.Buffer
	if o.Log != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&logBuf, o.Log), io.MultiWriter(&logBuf, o.Log)
	} else {
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	}
	start := time.Now()
	runErr := cmd.Run()
	r.Duration = time.Since(start)
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("%s: timed out after %s", path, o.Timeout)
	} else if runErr != nil {
		r.Err = fmt.Errorf("%s: jupyter nbconvert failed: %v\n%s", path, runErr, tail(logBuf.String(), 40))
	}
	nb, err := ipynb.Read(executed)
	if err != nil {
		if r.Err == nil {
			r.Err = fmt.Errorf("%s: no executed notebook: %w\n%s", path, err, tail(logBuf.String(), 40))
		}
		return r
	}
	r.Executed, r.Parsed = executed, nb
	r.Errors = nb.Errors()
	if m := backendRe.FindStringSubmatch(nb.AllText()); m != nil {
		r.Backend = m[1]
	}
	if o.HTML {
		html := filepath.Join(absOut, name+".html")
		out, err := exec.Command(jup, "nbconvert", "--to", "html", "--output-dir", absOut, executed).CombinedOutput()
		if err != nil && r.Err == nil {
			r.Err = fmt.Errorf("%s: HTML export failed: %v\n%s", executed, err, tail(string(out), 20))
		} else if err == nil {
			r.HTML = html
		}
	}
	return r
}

// CheckOutDir refuses an output folder that holds an input notebook: the folder itself, or any folder
// above it, or the notebook's own path. A run writes NAME.ipynb and NAME.html into outDir (and removes a
// previous NAME.ipynb first), so such an outDir would overwrite or delete the sources. Symbolic links are
// resolved on both sides, and outDir need not exist yet. The error names the flag, both paths and a way
// out.
func CheckOutDir(outDir string, inputs ...string) error {
	if outDir == "" {
		return fmt.Errorf("--out: no output folder given")
	}
	out, err := resolve(outDir)
	if err != nil {
		return fmt.Errorf("--out %s: %w", outDir, err)
	}
	for _, in := range inputs {
		nb, err := resolve(in)
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		if nb == out || within(out, nb) {
			return fmt.Errorf("--out %s holds the input notebook %s: running it would overwrite or delete the "+
				"source; choose an output folder outside the notebooks' folder (e.g. --out out)", outDir, in)
		}
	}
	return nil
}

// within reports whether path is strictly inside dir (both absolute and clean).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolve returns the absolute path of p with every symbolic link resolved, for the longest part of it
// that exists (the rest, not yet created, is appended as is).
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for d := abs; ; d = filepath.Dir(d) {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			for i := len(rest) - 1; i >= 0; i-- {
				real = filepath.Join(real, rest[i])
			}
			return real, nil
		}
		if filepath.Dir(d) == d {
			return abs, nil
		}
		rest = append(rest, filepath.Base(d))
	}
}

// Summary formats results as a table: notebook, backend, seconds, status.
func Summary(results []*Result) string {
	rows := [][]string{{"notebook", "backend", "seconds", "status"}}
	for _, r := range results {
		backend := r.Backend
		if backend == "" {
			backend = "-"
		}
		status := r.Status()
		if n := len(r.Errors); n > 0 {
			status = fmt.Sprintf("%d error(s)", n)
		}
		rows = append(rows, []string{filepath.Base(r.Notebook), backend, fmt.Sprintf("%.1f", r.Duration.Seconds()), status})
	}
	w := make([]int, 4)
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len(c))
		}
	}
	var b strings.Builder
	for i, r := range rows {
		fmt.Fprintf(&b, "%-*s  %-*s  %*s  %s\n", w[0], r[0], w[1], r[1], w[2], r[2], r[3])
		if i == 0 {
			fmt.Fprintf(&b, "%s  %s  %s  %s\n", strings.Repeat("-", w[0]), strings.Repeat("-", w[1]), strings.Repeat("-", w[2]), strings.Repeat("-", w[3]))
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
