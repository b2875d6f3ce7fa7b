package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// checkout is this repository's root (the module root above this package).
func checkout(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// fileBuildEnv reads the checkout's install/build.env from disk.
func fileBuildEnv(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(checkout(t), buildEnvPath)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := parseBuildEnv(path, string(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) == 0 {
		t.Fatalf("%s sets no variable", path)
	}
	return vars
}

// TestBuildEnvFile checks build.env's shape: every variable says why it is there (a comment right above
// it), the embedded copy is the file, and the parser refuses what make or sh would read differently.
func TestBuildEnvFile(t *testing.T) {
	vars := fileBuildEnv(t)
	if !slices.Equal(BuildEnv(), vars) {
		t.Errorf("embedded build.env %q, file %q", BuildEnv(), vars)
	}
	data, _ := os.ReadFile(filepath.Join(checkout(t), buildEnvPath))
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if line != "" && !strings.HasPrefix(line, "#") && (i == 0 || !strings.HasPrefix(lines[i-1], "#")) {
			t.Errorf("%s:%d: %s has no comment above it saying why it is there", buildEnvPath, i+1, line)
		}
	}
	for _, bad := range []string{"GOEXPERIMENT", "GOEXPERIMENT = simd", "GOEXPERIMENT='simd'", `A="1"`, "A=$B", "A=1 # x",
		`A=a\b`, "export A=1", "1A=1", "A=1\nA=2"} {
		if _, err := parseBuildEnv("x.env", bad); err == nil {
			t.Errorf("parseBuildEnv accepted %q", bad)
		}
	}
	got, err := parseBuildEnv("x.env", "# c\n\nA=1\r\nB_2=x,y:z/w\n")
	if err != nil || !slices.Equal(got, []string{"A=1", "B_2=x,y:z/w"}) {
		t.Errorf("parseBuildEnv: %q, %v", got, err)
	}
}

// TestBuildEnvOneSource checks that the Makefile and install/env.sh (which .ci/run and the scripts source)
// export exactly build.env's values and go.mod's toolchain, and that none of them writes one of those
// variables itself.
func TestBuildEnvOneSource(t *testing.T) {
	co := checkout(t)
	vars := fileBuildEnv(t)
	names := []string{"GOTOOLCHAIN"}
	for _, kv := range vars {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	// A clean environment, so that only what the Makefile or env.sh sets can show.
	var clean []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(names, k) && !strings.HasPrefix(k, "MAKE") {
			clean = append(clean, kv)
		}
	}
	want := append([]string{"GOTOOLCHAIN=" + Toolchain(co)}, vars...)
	check := func(what string, cmd *exec.Cmd) {
		t.Helper()
		cmd.Dir, cmd.Env = co, clean
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		var got []string // only these variables: the rest of the environment is none of the test's business
		for _, kv := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if k, _, _ := strings.Cut(kv, "="); slices.Contains(names, k) {
				got = append(got, kv)
			}
		}
		for _, kv := range want {
			if !slices.Contains(got, kv) {
				t.Errorf("%s does not export %s; it exports %q", what, kv, got)
			}
		}
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Log("no make on PATH: the Makefile's environment is not checked")
	} else {
		check("the Makefile", exec.Command("make", "--no-print-directory", "--eval", "gonbgpu-print-env: ; @env", "gonbgpu-print-env"))
	}
	check("install/env.sh", exec.Command("sh", "-c", ". install/env.sh && env"))

	// Who sets the variables: only build.env (and go.mod's toolchain line, read where GOTOOLCHAIN is set).
	for _, f := range []string{"Makefile", ".ci/run", "install/env.sh", "scripts/gpu-check.sh", "install/need-go.sh", "internal/bench/compare.sh"} {
		data, err := os.ReadFile(filepath.Join(co, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, n := range names[1:] {
				if regexp.MustCompile(`\b` + n + `\s*[:?+]?=`).MatchString(line) {
					t.Errorf("%s:%d sets %s itself: %s is its one source\n\t%s", f, i+1, n, buildEnvPath, line)
				}
			}
		}
		if f != "Makefile" && f != "install/env.sh" && f != "install/need-go.sh" && !strings.Contains(string(data), ". install/env.sh") {
			t.Errorf("%s does not source install/env.sh", f)
		}
	}
	if ci, _ := os.ReadFile(filepath.Join(co, ".ci/run")); !regexp.MustCompile(`(?m)^make test$`).Match(ci) {
		t.Errorf(".ci/run no longer runs `make test`")
	}
}

func TestToolchain(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := Toolchain(dir); got != "auto" {
		t.Errorf("no go.mod: %q, want auto", got)
	}
	write("module m\n\ngo 1.27\n\ntoolchain go1.27.9\n")
	if got := Toolchain(dir); got != "go1.27.9" {
		t.Errorf("toolchain line: %q", got)
	}
	write("module m\n\ngo 1.26.5\n")
	if got := Toolchain(dir); got != "go1.26.5" {
		t.Errorf("go line only: %q", got)
	}
	write("module m\n\ngo 1.27\n")
	if got := Toolchain(dir); got != "auto" {
		t.Errorf("go line without a patch release: %q, want auto (go1.27 is no toolchain)", got)
	}
}
