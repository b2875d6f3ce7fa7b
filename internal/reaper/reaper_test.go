//go:build linux

package reaper

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays three roles, chosen by REAPER_TEST_ROLE: the test itself; "reaper", which runs
// Run with the test binary as its kernel; and "kernel", a stand-in for GoNB that runs a "cell" (a child
// process) as the scenario in REAPER_TEST_SCENARIO says and tells the test, on its standard output,
// what the cell left behind and when the cell ended, and answering the test's pings. Nothing waits for
// time to pass: the test reads those lines, and waits for processes to end through pidfds; the timeouts
// are hang guards.
func TestMain(m *testing.M) {
	switch os.Getenv("REAPER_TEST_ROLE") {
	case "reaper":
		os.Setenv("REAPER_TEST_ROLE", "kernel") // for the child Run starts: the same binary
		self, _ := os.Executable()
		o := Options{Poll: 50 * time.Millisecond, Grace: 300 * time.Millisecond, Log: os.Stderr}
		if os.Getenv("REAPER_TEST_STOP") != "" { // Stop is closed by a SIGUSR1 from the test
			stop, usr1 := make(chan struct{}), make(chan os.Signal, 1)
			signal.Notify(usr1, syscall.SIGUSR1)
			go func() { <-usr1; close(stop) }()
			o.Stop, o.KillAfter = stop, 500*time.Millisecond
		}
		code, err := Run([]string{self}, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	case "kernel":
		os.Setenv("REAPER_TEST_ROLE", "")
		kernel(os.Getenv("REAPER_TEST_SCENARIO"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// hangGuard bounds every wait of these tests: far longer than any of them takes on a loaded machine.
const hangGuard = 2 * time.Minute

// kernel runs one scenario. The "cell" is `sh -c …` that starts `sleep 600` in the background and
// prints its pid, which the kernel passes on as "leftover PID"; "cell-ended" follows once the cell ended
// (not in "stop", whose cell runs on). The kernel then lives on, idle, until the test stops it or closes
// its standard input.
func kernel(scenario string) {
	if scenario == "stubborn" { // a kernel that ignores SIGTERM, with a cell running
		signal.Ignore(syscall.SIGTERM)
		scenario = "stop"
	}
	cell := exec.Command("sh", "-c", "sleep 600 >/dev/null & echo $!; "+
		map[string]string{"exit": "exit 0", "interrupt": "wait", "stop": "wait"}[scenario])
	out, err := cell.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cell.Start(); err != nil {
		panic(err)
	}
	pid, _ := bufio.NewReader(out).ReadString('\n') // the background process has started
	fmt.Printf("leftover %s", pid)
	if scenario == "interrupt" {
		cell.Process.Signal(os.Interrupt) // what GoNB does on Jupyter's ■
	}
	if scenario != "stop" {
		cell.Wait()
		fmt.Println("cell-ended")
	}
	// Idle, it answers each line of its standard input: the test's check that it still runs. The test
	// holds the other end, and closing it (or the test's death) ends the kernel.
	for sc := bufio.NewScanner(os.Stdin); sc.Scan(); {
		fmt.Println("echo " + sc.Text())
	}
}

// stillRunning checks that the kernel still runs and answers.
func (r *reaperRun) stillRunning(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(r.stdin, "ping\n"); err != nil {
		t.Fatalf("the kernel should still be running: %v", err)
	}
	r.expect(t, "echo ping")
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0] != "Z"
}

// reaperRun is a reaper started by startReaper, and the lines its kernel prints.
type reaperRun struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // the kernel's
	lines chan string
}

func startReaper(t *testing.T, scenario string) *reaperRun {
	t.Helper()
	return startReaperEnv(t, scenario)
}

// startReaperEnv is startReaper with more variables in the reaper's environment.
func startReaperEnv(t *testing.T, scenario string, env ...string) *reaperRun {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(append(os.Environ(), "REAPER_TEST_ROLE=reaper", "REAPER_TEST_SCENARIO="+scenario), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &reaperRun{cmd: cmd, stdin: stdin, lines: make(chan string, 8)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return r
}

// expect returns the kernel's next line, which must start with prefix.
func (r *reaperRun) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatalf("the kernel ended before printing %q", prefix)
		}
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("the kernel printed %q, want %q", l, prefix)
		}
		return l
	case <-time.After(hangGuard):
		t.Fatalf("the kernel printed no %q in %s", prefix, hangGuard)
	}
	return ""
}

// leftover returns the pid of the background process the cell started, with a pidfd on it, or -1 if it
// has already ended and been reaped (the "exit" cell ends at once, and the reaper may be quicker).
func (r *reaperRun) leftover(t *testing.T) (pid, pidfd int) {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(r.expect(t, "leftover "), "leftover "))
	if err != nil {
		t.Fatalf("the cell did not start its background process: %v", err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ESRCH {
		return pid, -1
	}
	if errno != 0 {
		t.Fatalf("pidfd_open(%d): %v", pid, errno) // Linux >= 5.3
	}
	t.Cleanup(func() { syscall.Close(int(fd)) })
	return pid, int(fd)
}

// sysPidfdOpen is pidfd_open(2)'s number, the same on every Linux architecture.
const sysPidfdOpen = 434

// ended waits until the process of pidfd has ended (its pidfd turns readable; -1: it had already) or d
// has passed.
func ended(pidfd int, d time.Duration) bool {
	if pidfd < 0 {
		return true
	}
	end := time.Now().Add(d)
	for {
		var set syscall.FdSet
		set.Bits[pidfd/64] |= 1 << (uint(pidfd) % 64)
		tv := syscall.NsecToTimeval(max(time.Until(end), 0).Nanoseconds())
		n, err := syscall.Select(pidfd+1, &set, nil, nil, &tv)
		if err == syscall.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// TestCellChildrenEndWithTheCell: a cell that exits normally, or is interrupted, leaves a `sleep 600`
// behind; it is ended once the cell has ended, while the kernel lives on.
func TestCellChildrenEndWithTheCell(t *testing.T) {
	for _, scenario := range []string{"exit", "interrupt"} {
		t.Run(scenario, func(t *testing.T) {
			r := startReaper(t, scenario)
			pid, pidfd := r.leftover(t)
			r.expect(t, "cell-ended")
			if !ended(pidfd, hangGuard) {
				t.Fatalf("process %d, started in the background by a finished cell, is still running", pid)
			}
			r.stillRunning(t)
		})
	}
}

// TestKernelStopEndsEverything: a cell still running when the kernel is told to stop (SIGTERM, as
// Jupyter's fallback does) has itself and its children ended; the reaper exits with the kernel's status.
func TestKernelStopEndsEverything(t *testing.T) {
	r := startReaper(t, "stop")
	pid, pidfd := r.leftover(t)
	cmd := r.cmd
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("the reaper did not exit after SIGTERM, in %s", hangGuard)
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d, want %d (the kernel's, killed by SIGTERM)", code, 128+int(syscall.SIGTERM))
	}
	if !ended(pidfd, 0) {
		t.Fatalf("process %d outlived the kernel", pid)
	}
}

// TestStopKillsAStubbornKernel: when Stop is closed (the launcher is gone), the kernel gets SIGTERM, and
// SIGKILL after KillAfter if it ignores SIGTERM; its running cell and the cell's children end too, and the
// reaper exits with the kernel's status.
func TestStopKillsAStubbornKernel(t *testing.T) {
	r := startReaperEnv(t, "stubborn", "REAPER_TEST_STOP=1")
	pid, pidfd := r.leftover(t)
	r.stillRunning(t)
	if err := r.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("the reaper did not exit after Stop, in %s", hangGuard)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %d, want %d (the kernel's, killed by SIGKILL)", code, 128+int(syscall.SIGKILL))
	}
	if !ended(pidfd, 0) {
		t.Fatalf("process %d outlived the kernel", pid)
	}
}
