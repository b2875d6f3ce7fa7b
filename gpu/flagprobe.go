package gpu

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Whether a CUDA plugin's XLA accepts a flag is only known by starting XLA with it: a child process
// creates the backend with the flag in XLA_FLAGS and runs a tiny computation (compilation reads the flags).
// XLA exits with "Unknown flags in XLA_FLAGS" when it does not know the flag.

// flagProbeEnv, when set, makes this process (any binary linking this package) create the backend
// configured by its value, run one small computation, print "ok" and exit: see init below.
const flagProbeEnv = "GONBGPU_XLA_FLAG_PROBE"

func init() {
	if config := os.Getenv(flagProbeEnv); config != "" {
		os.Exit(runFlagProbeChild(config, os.Stdout, os.Stderr))
	}
}

func runFlagProbeChild(config string, stdout, stderr io.Writer) (code int) {
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

// probeXLAFlag runs the child with XLA_FLAGS holding the flag setting ("--name=value") and returns the
// verdict, with the child's last words when there is none. A variable for tests.
var probeXLAFlag = func(config, name, setting string) (flagVerdict, string) {
	exe, err := os.Executable()
	if err != nil {
		return verdictUnknown, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	env := []string{flagProbeEnv + "=" + config, "XLA_FLAGS=" + strings.TrimSpace(os.Getenv("XLA_FLAGS")+" "+setting),
		AutotuneCacheEnv + "=off", RequireGPUEnv + "=0", pjrtProbeEnv + "="}
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	text := string(out)
	switch {
	case err == nil && strings.Contains(text, "ok"):
		return verdictAccepted, ""
	case xlaRejectsFlag(text, name):
		return verdictRejected, ""
	case ctx.Err() != nil:
		return verdictUnknown, fmt.Sprintf("the check took more than %s", probeTimeout)
	}
	text = strings.TrimSpace(text)
	if i := strings.LastIndex(text, "\n"); i >= 0 {
		text = text[i+1:]
	}
	return verdictUnknown, fmt.Sprintf("%v: %s", err, text)
}

// flagAccepted reports whether the plugin's XLA accepts --name=dir, asking a child process once per
// library (path, size, time) and flag; the verdict is kept in <cacheDir>/plugin-flags.json. No verdict
// (the child failed for another reason) is an error and is not kept.
func flagAccepted(p *Plugin, name, dir, cacheDir string) (bool, error) {
	return pluginCached(p.Path, name+"|accepted", cacheDir, "plugin-flags.json", func() (bool, error) {
		load := p.linked
		if load == "" {
			load = p.Path
		}
		verdict, detail := probeXLAFlag("xla:"+load+",preallocate=false", name, "--"+name+"="+dir)
		if verdict == verdictUnknown {
			return false, fmt.Errorf("a test run of the plugin with it failed (%s)", detail)
		}
		return verdict == verdictAccepted, nil
	})
}
