package install

import (
	"os"
	"path/filepath"
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
