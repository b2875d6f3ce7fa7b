package install

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pythonFloor is the oldest Python that install/python/venv.sh accepts and that compile.sh resolves the pins
// for. Debian 12 ships 3.11.2; a cluster's module may be any 3.11.
const pythonFloor = "3.11.0"

// TestRequirementsInstallOnTheOldestPython asks pip whether install/python/requirements.txt installs, as
// pinned and hashed, on the oldest Python venv.sh accepts and on RHEL 8's glibc (manylinux_2_28), as
// Discovery's users install it: a pin resolved on a newer 3.11 (soupsieve 4.1.4 needs 3.11.5) passed every
// test here and failed only for a user whose python3 was Debian's 3.11.2. pip --dry-run reads each wheel's
// Requires-Python and tags without installing anything (6 s with pip's cache).
func TestRequirementsInstallOnTheOldestPython(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	venvSh, err := os.ReadFile(filepath.Join(root, "install/python/venv.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`sys\.version_info < \((\d+), (\d+)\)`).FindSubmatch(venvSh)
	if m == nil || string(m[1])+"."+string(m[2])+".0" != pythonFloor {
		t.Fatalf("install/python/venv.sh's version check (%q) does not ask for Python %s, the floor the pins are resolved for", m, pythonFloor)
	}
	py := filepath.Join(root, ".venv/bin/python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s: %v (make venv makes it; make test runs it first)", py, err)
	}
	req := filepath.Join(root, "install/python/requirements.txt")
	args := []string{"-m", "pip", "install", "--disable-pip-version-check", "--dry-run", "--ignore-installed",
		"--target", t.TempDir(), "--python-version", pythonFloor, "--only-binary=:all:", "--require-hashes", "-r", req}
	// pip takes --platform literally: every tag a glibc 2.28 system accepts is named, as pip itself would
	// list them for such a system (manylinux_2_28 down to manylinux_2_5, and their legacy aliases).
	for minor := 28; minor >= 5; minor-- {
		args = append(args, "--platform", fmt.Sprintf("manylinux_2_%d_x86_64", minor))
	}
	args = append(args, "--platform", "manylinux2014_x86_64", "--platform", "manylinux2010_x86_64", "--platform", "manylinux1_x86_64")
	cmd := exec.Command(py, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 6 {
			lines = lines[len(lines)-6:]
		}
		t.Fatalf("%s does not install on Python %s, manylinux_2_28 (run install/python/compile.sh): %v\n%s", req, pythonFloor, err, strings.Join(lines, "\n"))
	}
	if !strings.Contains(string(out), "Would install") {
		t.Fatalf("pip's dry run printed no 'Would install':\n%s", out)
	}
	t.Logf("pip resolved the pins for Python %s, manylinux_2_28, in %s", pythonFloor, time.Since(start).Round(time.Millisecond))
}
