package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

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

// TestKernelspecEnvIsBuildEnv is the single-source check: the kernelspec's env, what cells compile with,
// holds every variable of install/build.env with its value, and go.mod's toolchain. (TestInstallKernelspec
// checks the same on a kernel.json a real install wrote.)
func TestKernelspecEnvIsBuildEnv(t *testing.T) {
	co := checkout(t)
	env := kernelEnv("/usr/bin/go", co, "/k/bin", "file:///p", "example.com/m")
	checkEnvHasBuildEnv(t, "the kernelspec env", env, fileBuildEnv(t))
	if want := Toolchain(co); env["GOTOOLCHAIN"] != want || !strings.HasPrefix(want, "go1.") {
		t.Errorf("kernelspec GOTOOLCHAIN=%q, want go.mod's toolchain %q", env["GOTOOLCHAIN"], want)
	}
	build := map[string]string{}
	for _, kv := range buildEnv(co) {
		k, v, _ := strings.Cut(kv, "=")
		build[k] = v
	}
	checkEnvHasBuildEnv(t, "the tools' build env", build, fileBuildEnv(t))
}

func checkEnvHasBuildEnv(t *testing.T, what string, env map[string]string, vars []string) {
	t.Helper()
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s has %s=%q (set: %v), but %s says %s", what, k, got, ok, buildEnvPath, kv)
		}
	}
}

// TestBuildEnvOneSource checks that the Makefile and scripts/env.sh (which .ci/run and the scripts source)
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
	check("scripts/env.sh", exec.Command("sh", "-c", ". scripts/env.sh && env"))

	// Who sets the variables: only build.env (and go.mod's toolchain line, read where GOTOOLCHAIN is set).
	for _, f := range []string{"Makefile", ".ci/run", "scripts/env.sh", "scripts/gpu-check.sh", "scripts/need-go.sh", "internal/bench/compare.sh"} {
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
		if f != "Makefile" && f != "scripts/env.sh" && f != "scripts/need-go.sh" && !strings.Contains(string(data), ". scripts/env.sh") {
			t.Errorf("%s does not source scripts/env.sh", f)
		}
	}
	if ci, _ := os.ReadFile(filepath.Join(co, ".ci/run")); !regexp.MustCompile(`(?m)^make test$`).Match(ci) {
		t.Errorf(".ci/run no longer runs `make test`")
	}
}
