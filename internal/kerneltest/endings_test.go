package kerneltest_test

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

//go:embed endings.py
var endingsPy []byte

// TestKernelEndings ends a busy kernel (a cell ran, gopls runs for completions, a cell is running) each
// way a kernel ends through jupyter_client, and counts what is left of it: a polite shutdown, a forced
// one (shutdown_kernel(now=True): SIGKILL to the kernel's process group), and the death of the client
// that started it (SIGKILL to it). Nothing may remain: no gonbgpu-kernel, GoNB, gopls or gopls's
// telemetry child (every process whose executable is in the kernelspec's folder), and not the cell.
func TestKernelEndings(t *testing.T) {
	data := kerneltest.Install(t)
	py := kerneltest.Python(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "endings.py")
	if err := os.WriteFile(script, endingsPy, 0o644); err != nil {
		t.Fatal(err)
	}
	kdir := filepath.Join(data, "kernels", "gonbgpu")
	for _, way := range []string{"polite", "forced", "client-dies"} {
		t.Run(way, func(t *testing.T) {
			kernelLog := filepath.Join(dir, way+".log")
			cmd := exec.Command(py, script, way, dir, kernelLog)
			cmd.Env = kerneltest.Env(data)
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			// endings.py ends the kernel only once told to, after the look below.
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
			lines := make(chan string)
			go func() {
				for sc := bufio.NewScanner(stdout); sc.Scan(); {
					lines <- sc.Text()
				}
				close(lines)
			}()
			logs := func() string {
				k, _ := os.ReadFile(kernelLog)
				return "endings.py:\n" + lastLines(stderr.String(), 20) + "\nkernel:\n" + lastLines(string(k), 30)
			}
			next := func(v any) {
				t.Helper()
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("endings.py exited early:\n%s", logs())
					}
					if err := json.Unmarshal([]byte(line), v); err != nil {
						t.Fatalf("endings.py printed %q: %v", line, err)
					}
				case <-time.After(10 * time.Minute): // a hang guard: a first cell compiles Go
					t.Fatalf("endings.py said nothing for 10 minutes:\n%s", logs())
				}
			}

			var busy map[string]int // kernel_pid, cell_pid
			next(&busy)
			cellPID := busy["cell_pid"]
			if cellPID == 0 {
				t.Fatalf("the running cell did not say its pid:\n%s", logs())
			}
			// The test means something only if the kernel runs all of its processes.
			var comms []string
			for _, p := range kerneltest.Processes(kdir) {
				comms = append(comms, p.Comm)
			}
			for _, want := range []string{"gonbgpu-kernel", "gonb", "gopls"} {
				if !slices.Contains(comms, want) {
					t.Fatalf("before the kernel ends, %s should be running; running: %q\n%s", want, comms, logs())
				}
			}
			t.Logf("running before the end: %v, and the cell (pid %d)", kerneltest.Processes(kdir), cellPID)

			start := time.Now()
			if way == "client-dies" {
				_ = cmd.Process.Kill()
				<-exited
			} else {
				if _, err := stdin.Write([]byte("end\n")); err != nil {
					t.Fatalf("telling endings.py to end the kernel: %v\n%s", err, logs())
				}
				var ended struct{ Ended bool }
				next(&ended)
			}
			kerneltest.NoProcessesLeft(t, kdir, 2*time.Minute)
			if !ends(t, cellPID, 2*time.Minute) {
				_ = syscall.Kill(cellPID, syscall.SIGKILL)
				t.Errorf("the cell that was running (pid %d) outlived the kernel (now killed)", cellPID)
			}
			t.Logf("nothing left %s after the end", time.Since(start).Round(100*time.Millisecond))
			if t.Failed() {
				t.Log(logs())
			}
		})
	}
}
