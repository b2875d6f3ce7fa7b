// Command gonbgpu-kernel is what the "Go (gonbgpu)" kernelspec runs:
//
//	gonbgpu-kernel PATH/TO/gonb --kernel {connection_file} -go_work=…
//
// It runs GoNB so that, however the kernel ends, nothing of it is left running, and so that Jupyter's
// front ends get an answer to every request. Two processes:
//
//   - the launcher, the process Jupyter started (and kills, with its process group, on a forced
//     shutdown). It binds the sockets of Jupyter's connection file and relays them to GoNB through
//     package internal/kernelproxy, which answers what GoNB leaves unanswered (is_complete, history,
//     comm_info). It watches the process that started it, as ipykernel does: when a client that
//     started the kernel dies ($JPY_PARENT_PID), the kernel stops. It passes signals on, and exits with
//     GoNB's status.
//   - the guard, the launcher's child in a session of its own, so that Jupyter's kill of the kernel's
//     process group does not reach it. It runs GoNB under package internal/reaper (a child subreaper:
//     what a cell leaves running ends with the cell; gopls, its telemetry child and cells end with the
//     kernel). It holds a pipe from the launcher: when the launcher is gone, however it ended (SIGKILL
//     included), the guard stops GoNB (SIGTERM, SIGKILL 5 s later) and ends everything below it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/kernelproxy"
	"github.com/gonbgpu/gonbgpu/internal/reaper"
)

// guardFlag, first on the command line, runs the guard: --guard=DIR, DIR the launcher's private folder
// (removed once GoNB has ended), the pipe from the launcher on fd 3.
const guardFlag = "--guard="

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintf(os.Stderr, "Usage: gonbgpu-kernel GONB [ARGS…]\n\nRuns the Jupyter kernel GONB so that the processes a cell starts end with the cell, nothing\n"+
			"of the kernel outlives it, and every request of Jupyter's protocol is answered.\n\n"+
			"Example:\n  gonbgpu-kernel ~/.local/share/jupyter/kernels/gonbgpu/bin/gonb --kernel conn.json\n")
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	if dir, ok := strings.CutPrefix(os.Args[1], guardFlag); ok {
		os.Exit(guard(dir, os.Args[2:]))
	}
	code, err := launch(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gonbgpu-kernel:", err)
	}
	os.Exit(code)
}

// connectionFileArg returns the index in args of the connection file GoNB is given (after --kernel).
func connectionFileArg(args []string) int {
	for i, a := range args {
		if (a == "--kernel" || a == "-kernel") && i+1 < len(args) {
			return i + 1
		}
	}
	return -1
}

func launch(args []string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	dir, err := privateDir()
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	args = append([]string(nil), args...)

	// GoNB's connection file: ipc sockets in the private folder, the same key; named like Jupyter's,
	// since GoNB reads the kernel id from the name (kernel-ID.json).
	var proxy *kernelproxy.Proxy
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if i := connectionFileArg(args); i >= 0 {
		front, err := kernelproxy.ReadConnInfo(args[i])
		if err != nil {
			return 1, err
		}
		back := *front
		back.Transport, back.IP = "ipc", filepath.Join(dir, "gonb")
		back.ShellPort, back.IOPubPort, back.StdinPort, back.ControlPort, back.HBPort = 1, 2, 3, 4, 5
		backFile := filepath.Join(dir, filepath.Base(args[i]))
		if err := back.Write(backFile); err != nil {
			return 1, err
		}
		if proxy, err = kernelproxy.Start(ctx, front, &back, os.Stderr); err != nil {
			return 1, err
		}
		args[i] = backFile
	}

	// The guard, in a session of its own, with the read end of a pipe whose write end only this process
	// holds (os.Pipe's descriptors are close-on-exec): it reads end-of-file when this process is gone.
	r, w, err := os.Pipe()
	if err != nil {
		return 1, err
	}
	defer w.Close()
	cmd := exec.Command(self, append([]string{guardFlag + dir}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("starting the guard: %w", err)
	}
	r.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	orphaned := watchParent(ctx)
	for done := false; !done; {
		select {
		case s := <-sigs:
			if s != syscall.SIGPIPE {
				_ = cmd.Process.Signal(s) // the guard passes it on to GoNB
			}
		case <-orphaned:
			orphaned = nil
			fmt.Fprintf(os.Stderr, "gonbgpu kernel: the process that started the kernel has ended: stopping the kernel\n")
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-exited:
			done = true
		}
	}
	if proxy != nil {
		// GoNB's last words (a shutdown_reply) may still be on their way through the proxy.
		time.Sleep(300 * time.Millisecond)
		proxy.Close()
	}
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return code, nil
}

// privateDir makes the folder of GoNB's connection file and sockets, readable by this user only. A Unix
// socket's path holds at most 107 bytes: a long $TMPDIR (a batch job's) gives way to /tmp.
func privateDir() (string, error) {
	for _, base := range []string{os.TempDir(), "/tmp"} {
		if len(base) > 64 {
			continue
		}
		if d, err := os.MkdirTemp(base, "gonbgpu-kernel-"); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no folder for GoNB's sockets: $TMPDIR (%s) is too long for a Unix socket's path, and /tmp is not writable", os.TempDir())
}

// watchParent returns a channel closed when the process that started this one has ended, if it was a
// Jupyter client ($JPY_PARENT_PID set, as jupyter_client sets it): the parent process id then changes
// (to a subreaper's, or init's). Like ipykernel's ParentPollerUnix, it looks once a second.
func watchParent(ctx context.Context) <-chan struct{} {
	v := os.Getenv("JPY_PARENT_PID")
	if v == "" || v == "1" {
		return nil
	}
	if _, err := strconv.Atoi(v); err != nil {
		return nil
	}
	parent := os.Getppid()
	if parent == 1 {
		return nil // already orphaned at start (or started by init): nothing to watch
	}
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != parent {
					close(ch)
					return
				}
			}
		}
	}()
	return ch
}

// guard runs GoNB under the reaper until it exits, or until the launcher is gone (end of file on fd 3).
func guard(dir string, args []string) int {
	launcher := os.NewFile(3, "launcher")
	syscall.CloseOnExec(3) // not GoNB's, nor a cell's
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, launcher)
		close(stop)
	}()
	code, err := reaper.Run(args, reaper.Options{Log: os.Stderr, Stop: stop})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gonbgpu-kernel:", err)
	}
	if dir != "" && strings.HasPrefix(filepath.Base(dir), "gonbgpu-kernel-") {
		if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "gonbgpu-kernel:", err)
		}
	}
	return code
}
