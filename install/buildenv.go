// Package install is what an install of gonbgpu reads besides the installer's Go code, kept where the
// Makefile and the scripts find it: build.env, the one list of the environment gonbgpu builds with and
// cells compile with (the Makefile includes it, install/env.sh sources it, the installer puts it into the
// kernelspec); python/, the checkout's pinned Python environment (`make venv`); and slurm/, the sbatch
// templates and the interactive srun recipe.
//
// Its Go API is only that build environment, [BuildEnv] and [Toolchain], which the installer
// (internal/installer, behind `gonbgpu install`) and `gonbgpu bench compare` both build with.
package install

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/modfile"
)

// buildEnvFile is build.env, the one source of the environment gonbgpu builds with and cells compile
// with; the Makefile includes it and install/env.sh sources it.
//
//go:embed build.env
var buildEnvFile string

// buildEnvPath is build.env's path in a checkout.
const buildEnvPath = "install/build.env"

// buildEnvVars is build.env, parsed once; a malformed file fails install's tests.
var buildEnvVars, buildEnvErr = parseBuildEnv(buildEnvPath, buildEnvFile)

// BuildEnv returns build.env's variables as KEY=VALUE, in the file's order: what the Makefile exports,
// what install/env.sh exports, and what the installer puts into the kernelspec's env and builds the
// kernel's tools with. (GOTOOLCHAIN is not among them: see [Toolchain].)
func BuildEnv() []string {
	if buildEnvErr != nil {
		panic(buildEnvErr) // the embedded file is checked by TestBuildEnvFile
	}
	return append([]string(nil), buildEnvVars...)
}

var (
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envValueRE = regexp.MustCompile(`^[A-Za-z0-9_.,:/@%+=-]*$`)
)

// parseBuildEnv reads a build.env file: blank lines, comment lines starting with '#', and KEY=VALUE
// lines whose value has no quotes, spaces, '$', '#' or backslashes, so that make's include, sh's '.' and
// this function read the same variables. name is used in error messages.
func parseBuildEnv(name, data string) ([]string, error) {
	var vars []string
	seen := map[string]bool{}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		switch {
		case !ok || !envNameRE.MatchString(key):
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE or a # comment, got %q", name, i+1, line)
		case !envValueRE.MatchString(value):
			return nil, fmt.Errorf("%s:%d: the value of %s, %q, holds a character make or sh would read differently", name, i+1, key, value)
		case seen[key]:
			return nil, fmt.Errorf("%s:%d: %s is set twice", name, i+1, key)
		}
		seen[key] = true
		vars = append(vars, key+"="+value)
	}
	return vars, nil
}

// Toolchain is the Go toolchain the checkout builds with: its go.mod's toolchain line (go1.27.3), else
// "go" and its go line when that names a release (1.26.5), else "auto". It is the one place that version
// is written; the Makefile and install/env.sh (which .ci/run and the scripts source) read the same line,
// and the installer puts it in the kernelspec, since cells compile too.
func Toolchain(checkout string) string {
	data, err := os.ReadFile(filepath.Join(checkout, "go.mod"))
	if err != nil {
		return "auto"
	}
	f, err := modfile.Parse("go.mod", data, nil)
	switch {
	case err != nil:
		return "auto"
	case f.Toolchain != nil && f.Toolchain.Name != "":
		return f.Toolchain.Name
	case f.Go != nil && strings.Count(f.Go.Version, ".") == 2: // "1.26.5"; "1.27" names no toolchain release
		return "go" + f.Go.Version
	}
	return "auto"
}
