// Package kerneltest runs the installed "Go (gonbgpu)" kernel from Go tests, the way Jupyter does.
//
// [Install] puts the kernelspec into a temporary Jupyter data dir (as `make install-kernel` would, but
// private to the test). [Start] launches the kernel through jupyter_client's KernelManager, driven by a
// small Python helper (session.py, run with the checkout's .venv, where `make venv` installs the pinned
// jupyter_client), so the kernelspec, its interrupt mode and the message protocol are exactly what a
// notebook server uses.
// [Kernel.Run] executes one cell and returns its outputs, optionally interrupting it.
package kerneltest

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gonbgpu/gonbgpu/internal/installer"
	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
)

// Python returns the checkout's virtual environment's interpreter (.venv/bin/python), which has Jupyter
// as install/python/requirements.txt pins it (jupyter_client, nbclient, papermill, jupyter_kernel_test,
// JupyterLab, Notebook). It fails the test if the environment is missing: `make venv` (which `make test`
// runs first) makes it.
func Python(t testing.TB) string {
	t.Helper()
	py := filepath.Join(Checkout(), ".venv", "bin", "python")
	if err := exec.Command(py, "-c", "import jupyter_client, nbclient, papermill, jupyter_kernel_test").Run(); err != nil {
		t.Fatalf("%s cannot import Jupyter (%v): make the checkout's Python environment with `make venv` "+
			"(`make test` does), from install/python/requirements.txt", py, err)
	}
	return py
}

// VenvBin returns the path of a command the virtual environment installs (jupyter, papermill, …).
func VenvBin(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(filepath.Dir(Python(t)), name)
}

//go:embed session.py
var sessionPy []byte

// Checkout is the gonbgpu repository root (found from this source file).
func Checkout() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Install installs the kernelspec into a new temporary Jupyter data dir and returns that dir. It fails the
// test, with the installer's report, if the install fails.
func Install(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("jupyter"); err != nil {
		t.Fatalf("jupyter is not installed: `make test` installs it (apt-get install %s)", strings.Join(installer.JupyterPackages, " "))
	}
	data := t.TempDir()
	var log bytes.Buffer
	if _, err := installer.Install(installer.Options{DataDir: data, Checkout: Checkout(), NoSystemPackages: true, Out: &log}); err != nil {
		t.Fatalf("installing the kernelspec: %v\n%s", err, log.String())
	}
	return data
}

// Env is the environment a Jupyter process needs to find the kernelspec in dataDir and compute on the
// pure-Go backend.
func Env(dataDir string) []string {
	return append(os.Environ(), "JUPYTER_DATA_DIR="+dataDir, "GOMLX_BACKEND=go", "PYTHONUNBUFFERED=1")
}

// Kernel is a running kernel.
type Kernel struct {
	cmd           *exec.Cmd
	stdin         io.WriteCloser
	lines         chan string
	log           *testutil.SyncBuffer
	DisplayName   string // from the kernelspec, as Jupyter read it
	InterruptMode string // "message" or "signal"
	Dir           string // the cells' working directory
}

// Start launches the gonbgpu kernel found in dataDir, with a temporary working directory. It is shut down
// when the test ends.
func Start(t testing.TB, dataDir string) *Kernel {
	t.Helper()
	py := Python(t)
	tmp := t.TempDir()
	script := filepath.Join(tmp, "session.py")
	if err := os.WriteFile(script, sessionPy, 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	k := &Kernel{lines: make(chan string, 16), log: &testutil.SyncBuffer{}, Dir: work}
	k.cmd = exec.Command(py, script, kernelspec.Name, work)
	k.cmd.Env = Env(dataDir)
	k.cmd.Stderr = k.log
	stdout, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if k.stdin, err = k.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", py, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			k.lines <- sc.Text()
		}
		close(k.lines)
	}()
	t.Cleanup(k.close)

	var ready struct {
		Ready         bool   `json:"ready"`
		DisplayName   string `json:"display_name"`
		InterruptMode string `json:"interrupt_mode"`
	}
	if err := k.read(3*time.Minute, &ready); err != nil || !ready.Ready {
		t.Fatalf("the kernel did not start: %v\n%s", err, k.Log(60))
	}
	k.DisplayName, k.InterruptMode = ready.DisplayName, ready.InterruptMode
	return k
}

// close shuts the kernel down: end of input makes the helper shut the kernel down and exit; if it has not
// within 30 seconds, it is killed.
func (k *Kernel) close() {
	_ = k.stdin.Close()
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = k.cmd.Process.Kill()
		<-done
	}
}

func (k *Kernel) read(timeout time.Duration, v any) error {
	select {
	case line, ok := <-k.lines:
		if !ok {
			return fmt.Errorf("the session helper exited")
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			return fmt.Errorf("bad answer %q: %w", line, err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("no answer in %s", timeout)
	}
}

// Log returns the last n lines of the helper's and the kernel's logs.
func (k *Kernel) Log(n int) string {
	lines := strings.Split(strings.TrimRight(k.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// RunOptions control one cell's execution.
type RunOptions struct {
	// Timeout bounds the cell, from its submission until the kernel is idle again; default 5 minutes.
	Timeout time.Duration

	// InterruptWhen interrupts the kernel (as Jupyter's ■ button does) as soon as the cell's output
	// contains this text.
	InterruptWhen string

	// InterruptAfter, when positive, interrupts the kernel this long after the cell was submitted.
	InterruptAfter time.Duration
}

// Output is one output of a cell.
type Output struct {
	Type      string `json:"type"` // "stream", "display_data", "execute_result" or "error"
	Name      string `json:"name"` // "stdout"/"stderr" for streams, the exception name for errors
	Text      string `json:"text"` // stream text, text/plain data, or the error's value
	HTML      string `json:"html"`
	Markdown  string `json:"markdown"`
	Traceback string `json:"traceback"` // an error's traceback, its lines joined by newlines
}

// Reply is what a cell produced.
type Reply struct {
	Status         string   `json:"status"` // the execute_reply status: "ok", "error", or "" if none came
	Outputs        []Output `json:"outputs"`
	Seconds        float64  `json:"seconds"`   // from submission until the kernel was idle again
	TimedOut       bool     `json:"timed_out"` // the kernel was not idle within the timeout
	InterruptedAt  *float64 `json:"interrupted_at"`
	ExecutionCount *int     `json:"execution_count"`
}

// Stream returns the concatenated text of the "stdout" or "stderr" stream.
func (r *Reply) Stream(name string) string {
	var b strings.Builder
	for _, o := range r.Outputs {
		if o.Type == "stream" && o.Name == name {
			b.WriteString(o.Text)
		}
	}
	return b.String()
}

// Errors returns the error outputs.
func (r *Reply) Errors() []Output {
	var out []Output
	for _, o := range r.Outputs {
		if o.Type == "error" {
			out = append(out, o)
		}
	}
	return out
}

// HTML returns the concatenated HTML of the rich outputs.
func (r *Reply) HTML() string {
	var b strings.Builder
	for _, o := range r.Outputs {
		b.WriteString(o.HTML)
	}
	return b.String()
}

// String summarises the reply for failure messages.
func (r *Reply) String() string {
	data, _ := json.MarshalIndent(r, "", "  ")
	return string(data)
}

// Run executes code as one cell and waits until the kernel is idle again (or the timeout passes, which
// fails t: the test or subtest that runs the cell).
func (k *Kernel) Run(t testing.TB, code string, o RunOptions) *Reply {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	req := map[string]any{"code": code, "timeout": o.Timeout.Seconds()}
	if o.InterruptWhen != "" {
		req["interrupt_when"] = o.InterruptWhen
	}
	if o.InterruptAfter > 0 {
		req["interrupt_after"] = o.InterruptAfter.Seconds()
	}
	data, _ := json.Marshal(req)
	if _, err := k.stdin.Write(append(data, '\n')); err != nil {
		t.Fatalf("sending the cell: %v\n%s", err, k.Log(60))
	}
	var r Reply
	if err := k.read(o.Timeout+time.Minute, &r); err != nil {
		t.Fatalf("running the cell: %v\n%s", err, k.Log(60))
	}
	if r.TimedOut {
		t.Fatalf("the cell did not finish within %s:\n%s\n%s\nkernel log:\n%s", o.Timeout, code, r.String(), k.Log(60))
	}
	return &r
}

// Proc is a running process.
type Proc struct {
	PID  int
	Comm string // its command name (gonbgpu-kernel, gonb, gopls, …)
	Exe  string
}

func (p Proc) String() string { return fmt.Sprintf("%s (pid %d, %s)", p.Comm, p.PID, p.Exe) }

// Processes lists the live processes whose executable lies under dir: for a kernelspec's folder, every
// process of its kernels (gonbgpu-kernel, GoNB, gopls and gopls's telemetry child are built into its
// bin folder; a cell's program is ended by the kernel's reaper, see internal/reaper).
func Processes(dir string) []Proc {
	dir = filepath.Clean(dir) + string(filepath.Separator)
	entries, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)) // fails for zombies
		if err != nil || !strings.HasPrefix(exe, dir) {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		out = append(out, Proc{PID: pid, Comm: strings.TrimSpace(string(comm)), Exe: exe})
	}
	return out
}

// NoProcessesLeft waits up to d (a hang guard: minutes) for every process under dir to end, and fails
// the test, naming them, if some are still running; it kills those, so that a failing test leaves
// nothing behind either. It looks again every 100 ms.
func NoProcessesLeft(t testing.TB, dir string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		left := Processes(dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(end) {
			for _, p := range left {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
			t.Errorf("%d process(es) of the kernel still running %s after it ended (now killed): %v", len(left), d, left)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
