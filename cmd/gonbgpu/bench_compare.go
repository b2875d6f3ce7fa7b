package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/install"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
	"github.com/gonbgpu/gonbgpu/vision/bench"
)

// column is one backend's figures in `gonbgpu bench --compare`.
type column struct {
	name    string
	conv    []float64 // ms, per bench.ConvShapes
	train   bench.TrainResult
	cell    float64 // seconds: a new cell's process, from start to its result
	missing string  // why there are no figures
}

// compareBackends prints, from one run, the CPU backends' figures beside PyTorch's at the same thread
// count: the convolutions, the ResNet-20 training step, its first step (graph building and compilation)
// and a new notebook cell's latency. Each backend is measured in turn, never at the same time.
func compareBackends(w io.Writer, opts bench.TrainOptions) error {
	threads := runtime.NumCPU()
	host := platform.Host()
	fmt.Fprintf(w, "gonbgpu bench --compare: pure Go, XLA on the CPU and PyTorch CPU on %s (%d cores; %d threads each)\n\n",
		host.Name, host.Cores, threads)
	var cols []*column
	for _, name := range []string{"go", xlacpu.Config(1)} {
		c := &column{name: strings.Split(name, ",")[0]}
		cols = append(cols, c)
		o, err := gpu.OptionsFromEnvironment() // the environment's, with this column's backend named
		var choice *platform.Choice
		if err == nil {
			o.Backend = name
			choice, err = gpu.New(o)
		}
		if err != nil {
			c.missing = firstLineOf(err.Error())
			fmt.Fprintf(w, "[%s] not measured: %s\n", c.name, c.missing)
			continue
		}
		fmt.Fprintf(w, "[%s] %s\n", c.name, choice.Reason)
		prefix := &prefixWriter{w: w, prefix: "[" + c.name + "] "}
		if c.conv, err = bench.ConvBench(prefix, choice.Backend, bench.ConvOptions{}); err != nil {
			return err
		}
		if c.train, err = bench.TrainBench(prefix, choice.Backend, opts); err != nil {
			return err
		}
		choice.Backend.Finalize()
	}
	torch := &column{name: "PyTorch"}
	if py, why := bench.TorchPython(); py == "" {
		torch.missing = why
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		r, err := bench.RunTorch(ctx, py, threads)
		cancel()
		if err != nil {
			torch.missing = firstLineOf(err.Error())
		} else {
			torch.name = "PyTorch " + r.Version
			torch.conv, torch.train = r.ConvMillis, r.Train
			fmt.Fprintf(w, "[PyTorch] %s, %d threads: convolutions in %s, training step in %s (the faster memory format each)\n",
				r.Version, threads, strings.Join(r.ConvFormat, "/"), r.TrainFormat)
		}
	}
	if torch.missing != "" {
		fmt.Fprintf(w, "[PyTorch] not measured: %s\n", torch.missing)
	}
	build, cells, why := cellLatency(cols)
	if why != "" {
		fmt.Fprintf(w, "[cell] not measured: %s\n", why)
	}
	for _, c := range cols {
		c.cell = cells[c.name]
	}
	cols = append(cols, torch)

	fmt.Fprintln(w)
	row := func(label string, f func(c *column) string) {
		fmt.Fprintf(w, "%-42s", label)
		for _, c := range cols {
			v := "-"
			if c.missing == "" {
				v = f(c)
			}
			fmt.Fprintf(w, " %14s", v)
		}
		fmt.Fprintln(w)
	}
	row("", func(c *column) string { return c.name })
	for i, s := range bench.ConvShapes {
		row(fmt.Sprintf("conv3x3 fwd+bwd b%d %d²×%d (ms)", s.B, s.H, s.C), func(c *column) string {
			if i >= len(c.conv) {
				return "-"
			}
			return fmt.Sprintf("%.1f", c.conv[i])
		})
	}
	o := opts
	if o.Model == "" {
		o = bench.DefaultTrainOptions(false)
	}
	row(fmt.Sprintf("%s train step b%d %d×%d×%d (img/s)", o.Model, o.Batch, o.Size, o.Size, o.Channels),
		func(c *column) string { return fmt.Sprintf("%.0f", c.train.ImagesPerSecond) })
	row("  one Fashion-MNIST epoch at that rate (s)", func(c *column) string {
		return fmt.Sprintf("%.0f", 60000/c.train.ImagesPerSecond)
	})
	row("first step: build + compile + run (s)", func(c *column) string { return fmt.Sprintf("%.1f", c.train.FirstSeconds) })
	row("new cell: start, backend, x+1 (s)", func(c *column) string {
		if c.cell == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", c.cell)
	})
	if build > 0 {
		fmt.Fprintf(w, "%-42s %14.1f   (GoNB compiles every cell; the same for every backend)\n", "new cell: go build of the cell (s)", build)
	}
	return nil
}

// cellProgram is what a notebook cell compiles to: a program that creates its backend and computes.
const cellProgram = `package main

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gonbgpu/gonbgpu/gpu"
)

func main() {
	x := tensors.FromValue([]float32{1, 2, 3})
	fmt.Println(graph.MustExecOnce(gpu.Backend(), func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }, x))
}
`

// cellLatency builds cellProgram in the gonbgpu checkout, as GoNB builds a cell, and runs it under each
// measured backend (the median of 3 runs), returning the build's seconds and each backend's run seconds;
// why says what could not be measured.
func cellLatency(cols []*column) (build float64, runs map[string]float64, why string) {
	runs = map[string]float64{}
	places := xlacpu.DefaultPlaces()
	if len(places.Checkouts) == 0 {
		return 0, runs, "no gonbgpu checkout here (run it from one, or bin/gonbgpu of one)"
	}
	checkout := places.Checkouts[len(places.Checkouts)-1]
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return 0, runs, "the go command is not on PATH"
	}
	dir := filepath.Join(checkout, ".build", fmt.Sprintf("cell-%d", os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, runs, err.Error()
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(cellProgram), 0o644); err != nil {
		return 0, runs, err.Error()
	}
	exe := filepath.Join(dir, "cell")
	cmd := exec.Command(goCmd, "build", "-o", exe, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(install.BuildEnv(), "GOTOOLCHAIN="+install.Toolchain(checkout), "GOFLAGS=")...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, runs, fmt.Sprintf("building a cell: %v: %s", err, firstLineOf(string(out)))
	}
	build = time.Since(start).Seconds()
	for _, c := range cols {
		if c.missing != "" {
			continue
		}
		var times []float64
		for range 3 {
			run := exec.Command(exe)
			run.Env = append(os.Environ(), "GOMLX_BACKEND="+c.name)
			start := time.Now()
			if out, err := run.CombinedOutput(); err != nil {
				return build, runs, fmt.Sprintf("a cell on %s: %v: %s", c.name, err, firstLineOf(string(out)))
			}
			times = append(times, time.Since(start).Seconds())
		}
		sort.Float64s(times)
		runs[c.name] = times[1]
	}
	return build, runs, ""
}

// prefixWriter starts every line written through it with prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !p.mid {
			if _, err := io.WriteString(p.w, p.prefix); err != nil {
				return 0, err
			}
		}
		if _, err := io.WriteString(p.w, line); err != nil {
			return 0, err
		}
		p.mid = !strings.HasSuffix(line, "\n")
	}
	return len(b), nil
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
