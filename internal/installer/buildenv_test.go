package installer

import (
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/install"
)

// TestKernelspecEnvIsBuildEnv is the single-source check: the kernelspec's env, what cells compile with,
// holds every variable of install/build.env with its value, and go.mod's toolchain. (TestInstallKernelspec
// checks the same on a kernel.json a real install wrote; package install's TestBuildEnvFile checks that
// install.BuildEnv is the file.)
func TestKernelspecEnvIsBuildEnv(t *testing.T) {
	co := checkout(t)
	env := kernelEnv("/usr/bin/go", co, "/k/bin", "file:///p", "example.com/m")
	checkEnvHasBuildEnv(t, "the kernelspec env", env, install.BuildEnv())
	if want := install.Toolchain(co); env["GOTOOLCHAIN"] != want || !strings.HasPrefix(want, "go1.") {
		t.Errorf("kernelspec GOTOOLCHAIN=%q, want go.mod's toolchain %q", env["GOTOOLCHAIN"], want)
	}
	build := map[string]string{}
	for _, kv := range buildEnv(co) {
		k, v, _ := strings.Cut(kv, "=")
		build[k] = v
	}
	checkEnvHasBuildEnv(t, "the tools' build env", build, install.BuildEnv())
}

func checkEnvHasBuildEnv(t *testing.T, what string, env map[string]string, vars []string) {
	t.Helper()
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s has %s=%q (set: %v), but install/build.env says %s", what, k, got, ok, kv)
		}
	}
}
