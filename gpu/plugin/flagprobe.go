package plugin

import (
	"fmt"
	"io"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/go-xla/compute/xla" // registers the "xla" backend the child creates
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Whether a CUDA plugin's XLA accepts a flag is only known by starting XLA with it: a child process
// creates the backend with the flag in XLA_FLAGS and runs a tiny computation (compilation reads the flags).
// XLA exits with "Unknown flags in XLA_FLAGS" when it does not know the flag.

// answerFlag is the child's side of a flag check: it creates the backend configured by config (XLA reads
// the XLA_FLAGS of the child's environment), runs one small computation and prints "ok".
func answerFlag(config string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "gonbgpu: flag probe: %v\n", r)
			code = 3
		}
	}()
	b, err := compute.NewWithConfig(config)
	if err != nil {
		fmt.Fprintf(stderr, "gonbgpu: flag probe: %v\n", err)
		return 3
	}
	y := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.AddScalar(graph.Mul(x, x), 1) },
		tensors.FromValue([]float32{1, 2, 3}))
	if got := y.Value().([]float32); got[2] != 10 {
		fmt.Fprintf(stderr, "gonbgpu: flag probe: wrong result %v\n", got)
		return 3
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

// flagVerdict is what a child process said about a flag.
type flagVerdict int

const (
	verdictUnknown  flagVerdict = iota // the child failed for another reason: no verdict
	verdictAccepted                    // XLA ran with the flag
	verdictRejected                    // XLA refused the flag
)

// xlaRejectsFlag recognizes XLA's refusal of XLA_FLAGS entries it does not know.
func xlaRejectsFlag(output, name string) bool {
	return strings.Contains(output, "Unknown flag") && strings.Contains(output, name)
}

// probeXLAFlag asks a child (see child.go) to run XLA with XLA_FLAGS holding xlaFlags and the flag
// setting ("--name=value"), handed to the child as a value, and returns the verdict, with the child's last
// words when there is none. A variable for tests.
var probeXLAFlag = func(config, name, xlaFlags, setting string) (flagVerdict, string) {
	a := ask("flag "+config, "XLA_FLAGS="+strings.TrimSpace(xlaFlags+" "+setting))
	switch {
	case a.Err == nil && strings.Contains(a.Stdout, "ok"):
		return verdictAccepted, ""
	case xlaRejectsFlag(a.Stdout+a.Stderr, name):
		return verdictRejected, ""
	}
	return verdictUnknown, a.failure("the run").Error()
}

// flagAccepted reports whether the plugin's XLA accepts --name=dir beside xlaFlags, asking a child process
// once per library (path, size, time) and flag; the verdict is kept in <cacheDir>/plugin-flags.json. No
// verdict (the child failed for another reason) is an error and is not kept.
func flagAccepted(p *Plugin, name, dir, cacheDir, xlaFlags string) (bool, error) {
	return pluginCached(p.Path, name+"|accepted", cacheDir, "plugin-flags.json", func() (bool, error) {
		load := p.linked
		if load == "" {
			load = p.Path
		}
		verdict, detail := probeXLAFlag("xla:"+load+",preallocate=false", name, xlaFlags, "--"+name+"="+dir)
		if verdict == verdictUnknown {
			return false, fmt.Errorf("a test run of the plugin with it failed (%s)", detail)
		}
		return verdict == verdictAccepted, nil
	})
}
