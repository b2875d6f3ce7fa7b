//go:build linux

package reaper

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays three roles, chosen by REAPER_TEST_ROLE: the test itself; "reaper", which runs
// Run with the test binary as its kernel; and "kernel", a stand-in for GoNB that runs "cells" (child
// processes) as the scenario in REAPER_TEST_SCENARIO says, writing the pids of what they leave behind.
func TestMain(m *testing.M) {
	switch os.Getenv("REAPER_TEST_ROLE") {
	case "reaper":
		os.Setenv("REAPER_TEST_ROLE", "kernel") // for the child Run starts: the same binary
		self, _ := os.Executable()
		code, err := Run([]string{self}, Options{Poll: 50 * time.Millisecond, Grace: 300 * time.Millisecond, Log: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	case "kernel":
		os.Setenv("REAPER_TEST_ROLE", "")
		kernel(os.Getenv("REAPER_TEST_SCENARIO"), os.Getenv("REAPER_TEST_DIR"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// kernel runs one scenario. Each "cell" is `sh -c …` that starts `sleep 600` in the background and
// records its pid in dir/leftover.
func kernel(scenario, dir string) {
	pidfile := filepath.Join(dir, "leftover")
	cell := exec.Command("sh", "-c", "sleep 600 & echo $! > "+pidfile+".tmp && mv "+pidfile+".tmp "+pidfile+"; "+
		map[string]string{"exit": "exit 0", "interrupt": "wait", "stop": "wait"}[scenario])
	if err := cell.Start(); err != nil {
		panic(err)
	}
	if scenario == "interrupt" {
		waitFile(pidfile, 10*time.Second)
		cell.Process.Signal(os.Interrupt) // what GoNB does on Jupyter's ■
	}
	if scenario != "stop" {
		cell.Wait()
	}
	os.WriteFile(filepath.Join(dir, "cell-ended"), nil, 0o644)
	time.Sleep(30 * time.Second) // the kernel lives on, idle, until the test stops it
}

func waitFile(path string, d time.Duration) []byte {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(path); err == nil {
			return data
		}
	}
	return nil
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

func startReaper(t *testing.T, scenario string) (*exec.Cmd, string) {
	t.Helper()
	dir := t.TempDir()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "REAPER_TEST_ROLE=reaper", "REAPER_TEST_SCENARIO="+scenario, "REAPER_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd, dir
}

func leftover(t *testing.T, dir string) int {
	t.Helper()
	data := waitFile(filepath.Join(dir, "leftover"), 20*time.Second)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("the cell did not start its background process: %q", data)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

func gone(pid int, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return true
		}
	}
	return false
}

// TestCellChildrenEndWithTheCell: a cell that exits normally, or is interrupted, leaves a `sleep 600`
// behind; it is gone soon after, while the kernel lives on.
func TestCellChildrenEndWithTheCell(t *testing.T) {
	for _, scenario := range []string{"exit", "interrupt"} {
		t.Run(scenario, func(t *testing.T) {
			cmd, dir := startReaper(t, scenario)
			pid := leftover(t, dir)
			if waitFile(filepath.Join(dir, "cell-ended"), 20*time.Second) == nil {
				t.Fatal("the cell did not end")
			}
			if !gone(pid, 3*time.Second) {
				t.Fatalf("process %d, started in the background by a finished cell, is still running", pid)
			}
			if cmd.ProcessState != nil {
				t.Fatalf("the kernel should still be running")
			}
		})
	}
}

// TestKernelStopEndsEverything: a cell still running when the kernel is told to stop (SIGTERM, as
// Jupyter's fallback does) has itself and its children ended; the reaper exits with the kernel's status.
func TestKernelStopEndsEverything(t *testing.T) {
	cmd, dir := startReaper(t, "stop")
	pid := leftover(t, dir)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reaper did not exit after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d, want %d (the kernel's, killed by SIGTERM)", code, 128+int(syscall.SIGTERM))
	}
	if alive(pid) {
		t.Fatalf("process %d outlived the kernel", pid)
	}
}
