// Package pysite lists the Python site-packages folders where pip puts the packages gonbgpu uses: JAX's
// CUDA plugin, XLA's CPU plugin. gonbgpu never runs their Python code; it loads the shared libraries the
// wheels carry, so it only needs to know where pip and conda put them.
package pysite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Place is one site-packages folder, with a human description of where it comes from, e.g.
// "$CONDA_PREFIX (/opt/conda)".
type Place struct {
	Dir, Where string
}

// Dirs lists the site-packages folders of, in order: the gonbgpu checkout's own .venv (`make venv`) for
// each of checkouts, $VIRTUAL_ENV, $CONDA_PREFIX, the python3 on PATH (its user site included), and
// home's ~/.local (`pip install --user`). A folder appears once, first where it is first found. Where a
// prefix holds no python3*/site-packages, the folder named is the prefix's lib, so a message can say what
// was looked into.
func Dirs(home string, checkouts ...string) []Place {
	var out []Place
	add := func(where string, dirs ...string) {
		for _, d := range dirs {
			if !slices.ContainsFunc(out, func(p Place) bool { return p.Dir == d }) {
				out = append(out, Place{d, where})
			}
		}
	}
	prefix := func(where, prefix string) {
		dirs, _ := filepath.Glob(filepath.Join(prefix, "lib", "python3*", "site-packages"))
		if len(dirs) == 0 { // name the real folder searched, not a made-up python3.X
			dirs, where = []string{filepath.Join(prefix, "lib")}, where+": no python3*/site-packages in it"
		}
		add(where, dirs...)
	}
	for _, c := range checkouts {
		if c != "" {
			prefix(fmt.Sprintf("gonbgpu's .venv (%s)", filepath.Join(c, ".venv")), filepath.Join(c, ".venv"))
		}
	}
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := os.Getenv(env); p != "" {
			prefix(fmt.Sprintf("$%s (%s)", env, p), p)
		}
	}
	if py := pythonSitePackages(); len(py) > 0 {
		add("python3 on PATH", py...)
	}
	if home != "" {
		dirs, _ := filepath.Glob(filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
		where := "~/.local"
		if len(dirs) == 0 {
			dirs, where = []string{filepath.Join(home, ".local", "lib")}, "~/.local: no python3*/site-packages in it"
		}
		add(where, dirs...)
	}
	return out
}

// DistVersion returns the version of the installed distribution whose dist-info folder in site starts
// with one of names (pip writes "fastatomstruct_xla_cpu-2026.6.23.dist-info"), or "".
func DistVersion(site string, names ...string) string {
	for _, n := range names {
		dirs, _ := filepath.Glob(filepath.Join(site, n+"-*.dist-info"))
		for _, d := range dirs {
			v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(d), n+"-"), ".dist-info")
			if v != "" && !strings.Contains(v, "-") {
				return v
			}
		}
	}
	return ""
}

// pythonSitePackages asks the python3 on PATH for its site-packages folders (user site included).
// It returns nil if there is no python3, or it takes longer than a few seconds.
func pythonSitePackages() []string {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c",
		"import site\nfor d in site.getsitepackages()+[site.getusersitepackages()]: print(d)")
	cmd.Env = append(os.Environ(), "PYTHONNOUSERSITE=")
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			dirs = append(dirs, l)
		}
	}
	return dirs
}
