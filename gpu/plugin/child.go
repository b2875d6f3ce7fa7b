package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// Loading a CUDA plugin is a one-way door: a plugin that crashes in C (a PJRT function table shorter than
// go-xla reads) or an XLA that aborts on a flag it does not know takes the whole process with it, where no
// fallback is possible. So the questions that need a plugin loaded are asked of a child: this same
// executable, started again with probeEnv holding the question. Its init (below) answers and exits before
// main runs, in any binary that links this package (the CLI, a notebook cell, a test binary).

// probeEnv names the question a child answers: "pjrt PATH" (the plugin's PJRT C API, see [API]),
// "flag CONFIG" (whether XLA, started with CONFIG and the XLA_FLAGS of the child's environment, runs) or
// "check PLATFORM PATH" (whether the plugin at PATH is one of PLATFORM, "cpu" or "cuda", that loads,
// compiles and computes right, see [CheckCPU] and [CheckCUDA]).
const probeEnv = "GONBGPU_PLUGIN_PROBE"

func init() {
	if q := os.Getenv(probeEnv); q != "" {
		os.Exit(answer(q, os.Stdout, os.Stderr))
	}
}

// answer is the child's side: it dispatches the question and returns the exit status. A child asked about
// a CUDA plugin first loads the NVIDIA driver and libraries named by preloadEnv, as the parent will.
func answer(question string, stdout, stderr io.Writer) int {
	if libs, ok := os.LookupEnv(preloadEnv); ok {
		list := filepath.SplitList(libs)
		if err := pjrtapi.PreloadCUDA(list[0], list[1:]); err != nil {
			fmt.Fprintf(stderr, "gonbgpu: %v\n", err)
			return 3
		}
	}
	kind, arg, _ := strings.Cut(question, " ")
	switch kind {
	case "pjrt":
		return answerPJRT(arg, stdout, stderr)
	case "flag":
		return answerFlag(arg, stdout, stderr)
	case "check":
		platform, path, _ := strings.Cut(arg, " ")
		return xlacpu.Answer(path, platform, stdout, stderr)
	}
	fmt.Fprintf(stderr, "gonbgpu: unknown plugin question %q\n", question)
	return 2
}

// probeTimeout bounds a child: a CUDA plugin is hundreds of MB, read from a network file system.
var probeTimeout = 90 * time.Second

// childAnswer is what a child said.
type childAnswer struct {
	Stdout, Stderr string
	Err            error // the child's exit error, or why it could not be started
	TimedOut       bool
}

// ask starts this executable as a child that answers question, with env added to this process's
// environment, and waits at most probeTimeout for it.
func ask(question string, env ...string) childAnswer {
	exe, err := os.Executable()
	if err != nil {
		return childAnswer{Err: fmt.Errorf("cannot re-run this program to check the plugin: %w", err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(append(os.Environ(), probeEnv+"="+question), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return childAnswer{Stdout: stdout.String(), Stderr: stderr.String(), Err: err, TimedOut: ctx.Err() != nil}
}

// failure says why a child gave no answer: its time ran out, or its exit status with its last words.
func (a childAnswer) failure(what string) error {
	if a.TimedOut {
		return fmt.Errorf("%s took more than %s", what, probeTimeout)
	}
	return fmt.Errorf("%s failed (%v): %s", what, a.Err, lastWords(a.Stderr))
}

// lastWords picks the line of a child's standard error that says why it ended: a Go runtime's crash report
// ("SIGSEGV: segmentation violation", "fatal error: …") comes before its goroutine and register dumps,
// so that line when there is one, else the last line.
func lastWords(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "SIG") || strings.HasPrefix(l, "fatal error:") ||
			strings.HasPrefix(l, "panic:") || strings.Contains(l, "Check failed") {
			return l + " (the plugin crashed the process that loaded it)"
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
