package kerneltest_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
)

var pidRe = regexp.MustCompile(`background pid (\d+)`)

// TestCellChildrenEndWithTheCell runs, through the installed kernelspec and jupyter_client, cells that
// start `sleep 600` in the background (one in a session of its own, out of reach of a process-group
// kill) and end, normally or by Jupyter's interrupt: the sleep must end after the cell, while the kernel
// keeps running cells.
func TestCellChildrenEndWithTheCell(t *testing.T) {
	k := kerneltest.Start(t, kerneltest.Install(t))
	start := `import (
	"fmt"
	"os/exec"
	"syscall"
)

func background(newSession bool) {
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: newSession}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	fmt.Printf("background pid %d\n", cmd.Process.Pid)
}
`
	cases := []struct {
		name string
		code string
		opts kerneltest.RunOptions
	}{
		{"normal exit", start + "%%\nbackground(false)", kerneltest.RunOptions{}},
		{"own session", "%%\nbackground(true)", kerneltest.RunOptions{}},
		{"interrupted", "%%\nbackground(false)\nselect {}", kerneltest.RunOptions{InterruptWhen: "background pid"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := k.Run(t, c.code, c.opts)
			m := pidRe.FindStringSubmatch(r.Stream("stdout"))
			if m == nil {
				t.Fatalf("the cell did not start its background process:\n%s\nkernel log:\n%s", r, k.Log(40))
			}
			pid, _ := strconv.Atoi(m[1])
			t.Cleanup(func() {
				if p, err := os.FindProcess(pid); err == nil && running(pid) {
					p.Kill()
				}
			})
			if !ends(t, pid, 2*time.Minute) { // a hang guard: the reaper ends it within a second or so
				t.Fatalf("`sleep 600` (pid %d), started by a cell that has ended, is still running", pid)
			}
		})
	}
	r := k.Run(t, "%%\nfmt.Println(\"still here\")", kerneltest.RunOptions{})
	if r.Stream("stdout") != "still here\n" {
		t.Fatalf("the kernel stopped running cells:\n%s", r)
	}
}

// ends waits until process pid has ended, or d has passed: on a pidfd, which turns readable when the
// process ends, not by polling. A pid already gone (the reaper was quicker) has ended.
func ends(t *testing.T, pid int, d time.Duration) bool {
	const sysPidfdOpen = 434 // pidfd_open(2), Linux >= 5.3, the same number on every architecture
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ESRCH {
		return true
	}
	if errno != 0 {
		t.Fatalf("pidfd_open(%d): %v", pid, errno)
	}
	defer syscall.Close(int(fd))
	end := time.Now().Add(d)
	for {
		var set syscall.FdSet
		set.Bits[fd/64] |= 1 << (fd % 64)
		tv := syscall.NsecToTimeval(max(time.Until(end), 0).Nanoseconds())
		n, err := syscall.Select(int(fd)+1, &set, nil, nil, &tv)
		if err == syscall.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// running reports whether pid is a live (not zombie) process.
func running(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	return !strings.HasPrefix(strings.TrimSpace(s[strings.LastIndexByte(s, ')')+1:]), "Z")
}
