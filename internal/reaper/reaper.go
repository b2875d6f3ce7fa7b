//go:build linux

// Package reaper runs the GoNB kernel so that a cell's processes end with the cell.
//
// GoNB runs each cell as a child process (the compiled cell, a shell command, a cell magic). It waits for
// that process, and on an interrupt sends it SIGINT and later SIGKILL; but it knows nothing of the
// processes the cell started: a `sleep 600 &`, a server, a forgotten exec.Command. When the cell's process
// ends they are re-parented to init and live on, after the cell and after the kernel.
//
// [Run] starts the kernel as its child after making itself a child subreaper (prctl
// PR_SET_CHILD_SUBREAPER): orphans anywhere below it are re-parented to it instead of init. Any child of
// the reaper other than the kernel is therefore something a finished process left behind. The reaper
// ends those once no cell is running (the kernel has no live child but gopls, its language server): at
// the end of a cell, normal or interrupted, the leftovers get SIGTERM, then SIGKILL a moment later.
// When the kernel exits, or the reaper is told to stop, everything left below it is ended the same way.
//
// Only the reaper's own children are signalled, and they are reaped by it, so a process id can never be
// reused under it: no unrelated process is ever hit.
package reaper

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// Options tune [Run]; the zero value is what the kernelspec uses.
type Options struct {
	// Poll is how often leftovers are looked for; default 200 ms.
	Poll time.Duration

	// Grace is how long a leftover has between SIGTERM and SIGKILL; default 1 s.
	Grace time.Duration

	// Log, if set, receives one line per process ended.
	Log io.Writer

	// Stop, when closed, stops the kernel: SIGTERM (GoNB then stops gopls and exits), SIGKILL after
	// KillAfter if it is still running, and everything left below it after that, as when it exits.
	Stop <-chan struct{}

	// KillAfter is how long the kernel has between Stop's SIGTERM and SIGKILL; default 5 s.
	KillAfter time.Duration
}

// Run runs argv (the kernel) as a child and returns its exit code once it and everything it left behind
// have ended. Signals the reaper receives (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed on to the kernel.
func Run(argv []string, o Options) (int, error) {
	if len(argv) == 0 {
		return 2, fmt.Errorf("no kernel command given")
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.Grace <= 0 {
		o.Grace = time.Second
	}
	if o.KillAfter <= 0 {
		o.KillAfter = 5 * time.Second
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return 1, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	// Writing a line to a standard error whose reader has gone (a Jupyter that was killed) must not kill
	// the reaper before it has ended what is below it: SIGPIPE is caught (not ignored, which children
	// would inherit), and the write just fails.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)

	// Pdeathsig fires when the thread that started the child ends, not the process: keep this goroutine
	// on its thread for as long as the kernel runs.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If the reaper is killed outright, the kernel goes too (and Jupyter's kill of the process group
	// takes the cells).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	r := &reaper{kernel: cmd.Process.Pid, o: o, termed: map[int]time.Time{}}
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	code := -1
	stop := o.Stop
	var killAt <-chan time.Time
	for code < 0 {
		select {
		case s := <-sigs:
			if s != syscall.SIGCHLD {
				_ = cmd.Process.Signal(s)
			}
		case <-stop:
			stop = nil
			if o.Log != nil {
				fmt.Fprintf(o.Log, "gonbgpu kernel: stopping the kernel (process %d): SIGTERM\n", cmd.Process.Pid)
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			killAt = time.After(o.KillAfter)
		case <-killAt:
			if o.Log != nil {
				fmt.Fprintf(o.Log, "gonbgpu kernel: the kernel (process %d) outlived SIGTERM by %s: SIGKILL\n", cmd.Process.Pid, o.KillAfter)
			}
			_ = cmd.Process.Kill()
		case <-tick.C:
		}
		code = r.reap()
		if code < 0 && !r.cellRunning() {
			r.endLeftovers()
		}
	}
	// The kernel is gone: end everything left below it, then return its status.
	deadline := time.Now().Add(o.Grace + 2*time.Second)
	for {
		r.reap()
		if len(r.children()) == 0 || time.Now().After(deadline) {
			break
		}
		r.endLeftovers()
		time.Sleep(o.Poll / 4)
	}
	return code, nil
}

type reaper struct {
	kernel int
	o      Options
	termed map[int]time.Time // leftovers sent SIGTERM, and when
	status int
}

// reap collects every exited child without blocking; it returns the kernel's exit code once the kernel
// has exited, else -1.
func (r *reaper) reap() int {
	code := -1
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
		delete(r.termed, pid)
		if pid == r.kernel {
			switch {
			case ws.Exited():
				code = ws.ExitStatus()
			case ws.Signaled():
				code = 128 + int(ws.Signal())
			default:
				code = 1
			}
			r.kernel = -1
		}
	}
	if r.kernel == -1 && code < 0 {
		code = r.status
	}
	if code >= 0 {
		r.status = code
	}
	return code
}

// children lists the reaper's live children (not zombies), the kernel excluded.
func (r *reaper) children() []int {
	var out []int
	for _, pid := range childrenOf(os.Getpid()) {
		if pid != r.kernel && !zombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// cellRunning reports whether the kernel has a live child other than gopls: a cell's program, a shell
// command or the go build before them.
func (r *reaper) cellRunning() bool {
	if r.kernel <= 0 {
		return false
	}
	for _, pid := range childrenOf(r.kernel) {
		if zombie(pid) {
			continue // ended, not yet waited for by GoNB
		}
		if comm(pid) == "gopls" {
			continue
		}
		return true
	}
	return false
}

// endLeftovers sends SIGTERM to each leftover, and SIGKILL to those that outlived their grace.
func (r *reaper) endLeftovers() {
	now := time.Now()
	for _, pid := range r.children() {
		t, ok := r.termed[pid]
		switch {
		case !ok:
			r.termed[pid] = now
			r.say(pid, "SIGTERM")
			_ = syscall.Kill(pid, syscall.SIGTERM)
		case now.Sub(t) >= r.o.Grace:
			r.say(pid, "SIGKILL")
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (r *reaper) say(pid int, sig string) {
	if r.o.Log != nil {
		fmt.Fprintf(r.o.Log, "gonbgpu kernel: %s to process %d (%s), left behind by a cell or by the stopped kernel\n", sig, pid, comm(pid))
	}
}

// childrenOf lists pid's children: from /proc/PID/task/*/children where the kernel has it, else by
// scanning every process's parent.
func childrenOf(pid int) []int {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err == nil && len(tasks) > 0 {
		var out []int
		for _, t := range tasks {
			data, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
		return out
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := stat(c); ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// stat returns a process's parent and state from /proc/PID/stat (the command name, in parentheses, may
// hold spaces: fields are counted after its closing parenthesis).
func stat(pid int) (ppid int, state byte) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1, 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1, 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0][0]
}

func zombie(pid int) bool {
	_, st := stat(pid)
	return st == 'Z' || st == 'X' || st == 0
}

func comm(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data))
}
