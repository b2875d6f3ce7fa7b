package kerneltest_test

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

//go:embed conformance.py
var conformancePy []byte

// conformanceRequired are the tests that must pass: every test of jupyter_kernel_test that applies to a
// Go kernel, and conformance.py's own for the requests the suite has no test for.
var conformanceRequired = []string{
	"test_kernel_info", "test_execute_stdout", "test_execute_stderr", "test_error", "test_display_data",
	"test_completion", "test_inspect", "test_is_complete",
	"test_history_go", "test_comm_info", "test_interrupt", "test_zz_shutdown",
}

// conformanceNotApplicable are the suite's tests that skip themselves for this kernel, and why; any other
// skip fails.
var conformanceNotApplicable = map[string]string{
	"test_execute_result":         "a Go cell has no value: GoNB publishes display_data and never execute_result (gonb internal/kernel/messages.go:419-421)",
	"test_history":                "the suite runs it only with execute_result samples; test_history_go makes the same checks with cells that print",
	"test_pager":                  "GoNB has no pager payloads",
	"test_clear_output":           "GoNB never sends clear_output (outputs are redrawn in place through display ids)",
	"test_recv_iopub_welcome_msg": "iopub_welcome (protocol 5.4) is optional: the kernel's iopub is a PUB socket, as GoNB's is",
}

// TestConformance runs Jupyter's kernel conformance suite (jupyter_kernel_test, pinned in
// install/python/requirements.txt) against the installed kernelspec, with Go samples for each of its
// tests (conformance.py), and checks that nothing of the kernels it started is left running.
func TestConformance(t *testing.T) {
	data := kerneltest.Install(t)
	py := kerneltest.Python(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "conformance.py")
	if err := os.WriteFile(script, conformancePy, 0o644); err != nil {
		t.Fatal(err)
	}
	// A hang guard: the suite takes under a minute; a request nobody answers would hang it forever.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script)
	cmd.Dir, cmd.Env = dir, kerneltest.Env(data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout bytes.Buffer
	var stderr testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("the suite ran in %s", time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		t.Errorf("the suite did not finish within 15 minutes (killed); it was at:\n%s", lastLines(stderr.String(), 30))
	} else if err != nil {
		t.Errorf("conformance.py failed: %v\n%s", err, lastLines(stderr.String(), 40))
	}

	passed := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r struct{ Test, Subtest, Outcome, Detail string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("conformance.py printed %q: %v", sc.Text(), err)
			continue
		}
		name := r.Test
		if r.Subtest != "" {
			name += " " + r.Subtest
		}
		switch r.Outcome {
		case "ok":
			passed[r.Test] = true
			t.Logf("ok    %s", name)
		case "skip":
			if why, ok := conformanceNotApplicable[r.Test]; ok && r.Subtest == "" {
				t.Logf("n/a   %s: %s", name, why)
			} else {
				t.Errorf("skipped: %s: %s (a test that applies to this kernel must run and pass)", name, r.Detail)
			}
		default:
			t.Errorf("%s %s:\n%s", r.Outcome, name, r.Detail)
		}
	}
	for _, name := range conformanceRequired {
		if !passed[name] {
			t.Errorf("%s did not pass", name)
		}
	}
	if t.Failed() {
		t.Logf("kernel and suite log (last lines):\n%s", lastLines(stderr.String(), 60))
	}
	kerneltest.NoProcessesLeft(t, data, 2*time.Minute)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
