// Package installer puts the "Go (gonbgpu)" kernel into Jupyter, and takes it out again.
//
// An install is a sequence of steps, each reporting one line: find (or, as root on Debian, install)
// Jupyter; build GoNB, goimports and gopls into the kernelspec's own bin folder; download every module so
// that notebook cells resolve imports offline on compute nodes; look for a CUDA PJRT plugin; write the
// kernelspec; and ask Jupyter to confirm it sees it.
//
// Installs are safe to repeat and never touch what is not theirs: every file written is recorded with its
// checksum in a manifest inside the kernelspec folder, so a reinstall can tell an unchanged file from one
// the user edited (kept, unless Force), and an uninstall removes exactly the files it wrote.
package installer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
)

// Options configure an install or uninstall.
type Options struct {
	// Prefix, when set, installs into PREFIX/share/jupyter (like `jupyter kernelspec install --prefix`).
	Prefix string

	// DataDir, when set, is the Jupyter data folder to use, overriding $JUPYTER_DATA_DIR and the user's
	// default. Without Prefix or DataDir the kernel goes to the user's data folder ($JUPYTER_DATA_DIR, or
	// what `jupyter --data-dir` reports).
	DataDir string

	// Checkout is the gonbgpu source folder that notebook cells import packages from (GoNB's -go_work).
	// Default: the module root above the current folder.
	Checkout string

	// Force overwrites a kernel.json the user edited, or a "gonbgpu" kernelspec gonbgpu did not write.
	Force bool

	// NoSystemPackages forbids installing Jupyter with apt-get even when running as root.
	NoSystemPackages bool

	// CUDA downloads the CUDA PJRT plugin with go-xla's installer first (needs the internet).
	CUDA bool

	// Out receives one line per step (default os.Stdout).
	Out io.Writer
}

func (o *Options) out() io.Writer {
	if o.Out == nil {
		return os.Stdout
	}
	return o.Out
}

// step prints one aligned report line.
func (o *Options) step(name, format string, args ...any) {
	fmt.Fprintf(o.out(), "  %-11s %s\n", name, fmt.Sprintf(format, args...))
}

// Result describes a finished install.
type Result struct {
	KernelDir string           // …/kernels/gonbgpu
	Spec      *kernelspec.Spec // what kernel.json now holds
	Kept      bool             // kernel.json was edited by the user and kept
}

// Install runs every install step. It stops at the first step that fails, with an error that names what
// failed and what to do.
func Install(o Options) (*Result, error) {
	w := o.out()
	fmt.Fprintln(w, "gonbgpu install:")
	checkout, err := findCheckout(o.Checkout)
	if err != nil {
		return nil, err
	}
	if o.CUDA {
		if err := installCUDA(&o); err != nil {
			return nil, err
		}
	}
	jup, err := ensureJupyter(&o)
	if err != nil {
		return nil, err
	}
	dataDir, how, err := resolveDataDir(&o, jup)
	if err != nil {
		return nil, err
	}
	kdir := filepath.Join(dataDir, "kernels", kernelspec.Name)
	o.step("location", "%s (%s)", kdir, how)

	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("gonbgpu install: the go command is not on PATH.\n%s", goHelp(detectSystem()))
	}
	// Everything that ends up inside the kernelspec's PATH-like or substituted values is checked before
	// anything is written: a kernelspec that says "Done" but cannot run a cell is worse than a refusal.
	if err := checkSpecPaths(goCmd, checkout, kdir); err != nil {
		return nil, err
	}
	warnTemporary(&o, "checkout", checkout)
	warnTemporary(&o, "Jupyter folder", dataDir)
	m, err := openManifest(kdir, o.Force)
	if err != nil {
		return nil, err
	}
	if err := m.ensureDir(kdir); err != nil {
		return nil, err
	}
	binDir := filepath.Join(kdir, "bin")
	if err := buildTools(&o, m, goCmd, checkout, binDir); err != nil {
		return nil, err
	}
	env, err := cellEnv(&o, m, goCmd, checkout, binDir)
	if err != nil {
		return nil, err
	}
	// Where `gonbgpu data fetch` put the datasets (say on /scratch): recorded, so that cells find them
	// however Jupyter was started (Open OnDemand does not read ~/.bashrc).
	if d := os.Getenv(catalog.DirEnv); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			env[catalog.DirEnv] = abs
			o.step("data", "%s=%s recorded for cells", catalog.DirEnv, abs)
		}
	}
	s := kernelspec.New(binDir, checkout, env)
	res, err := writeKernelspec(&o, m, kdir, s)
	if err != nil {
		return nil, err
	}
	if err := m.save(); err != nil {
		return nil, err
	}
	if err := checkListed(&o, jup, kdir); err != nil {
		return nil, err
	}
	return res, nil
}

// pathListBreakers are the characters a folder written into the kernelspec may not hold: ':' separates
// PATH entries (the kernel's bin folder and Go's go first in PATH), '$' starts a variable that Jupyter
// substitutes in kernelspec env values, and a newline or NUL breaks every list.
const pathListBreakers = ":$\n\x00"

// proxyListBreakers are the separators of GOPROXY's list, which names the module cache.
const proxyListBreakers = ",|$\n\x00"

// checkSpecPaths refuses folders that cannot be written into kernel.json's env as they are. Quoting does
// not exist in PATH, so the only safe answer is a clear refusal that names the folder and the character.
func checkSpecPaths(goCmd, checkout, kdir string) error {
	check := func(what, path, breakers, fix string) error {
		if i := strings.IndexAny(path, breakers); i >= 0 {
			return fmt.Errorf("gonbgpu install: the %s %s contains %q, which cannot stand in the kernel's "+
				"environment (PATH-like lists split on ':', GOPROXY on ',' and '|', and Jupyter expands '$'): %s",
				what, path, path[i:i+1], fix)
		}
		return nil
	}
	if err := check("kernelspec folder", kdir, pathListBreakers,
		"choose a Jupyter data folder without it (--prefix DIR, --data-dir DIR or JUPYTER_DATA_DIR)"); err != nil {
		return err
	}
	if err := check("Go folder", filepath.Dir(goCmd), pathListBreakers,
		"put a Go whose folder has no such character first on PATH"); err != nil {
		return err
	}
	if err := check("checkout", checkout, "$\n\x00",
		"clone gonbgpu into a folder without it"); err != nil {
		return err
	}
	if d := os.Getenv(catalog.DirEnv); d != "" {
		if err := check("$"+catalog.DirEnv, d, "$\n\x00", "choose a datasets folder without it"); err != nil {
			return err
		}
	}
	if out, err := goRun(goCmd, checkout, buildEnv(checkout), "env", "GOMODCACHE"); err == nil {
		if err := check("Go module cache", strings.TrimSpace(string(out)), proxyListBreakers,
			"set GOMODCACHE to a folder without it"); err != nil {
			return err
		}
	}
	return nil
}

// warnTemporary prints a warning when path is in a temporary folder: the kernelspec keeps pointing at
// it, and /tmp is emptied at reboot, by cleaners, and is a different folder on every cluster node.
func warnTemporary(o *Options, what, path string) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	for _, tmp := range []string{"/tmp", "/var/tmp", "/dev/shm", os.TempDir()} {
		if rt, err := filepath.EvalSymlinks(tmp); err == nil {
			tmp = rt
		}
		if rel, err := filepath.Rel(tmp, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			o.step("warning", "the %s %s is under %s, a temporary folder: the kernel stops working once it is "+
				"cleaned (at reboot, by a cleaner, and it differs between cluster nodes); use a folder in $HOME or your project space", what, path, tmp)
			return
		}
	}
}

// Uninstall removes the files gonbgpu wrote into the kernelspec folder, and the folder itself once empty.
// Files it did not write (or that a user put there) stay.
func Uninstall(o Options) error {
	w := o.out()
	fmt.Fprintln(w, "gonbgpu uninstall:")
	jup, _ := findJupyter()
	dataDir, how, err := resolveDataDir(&o, jup)
	if err != nil {
		return err
	}
	kdir := filepath.Join(dataDir, "kernels", kernelspec.Name)
	o.step("location", "%s (%s)", kdir, how)
	m, err := readManifest(kdir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// Nothing of gonbgpu's is there (never installed, or already uninstalled): a no-op, said plainly.
		if left := leftFiles(kdir, nil); len(left) > 0 {
			o.step("nothing", "to remove: %s has no gonbgpu manifest (already uninstalled, or never written by gonbgpu); "+
				"left alone: %s", kdir, strings.Join(left, ", "))
		} else {
			o.step("nothing", "to remove: no gonbgpu kernelspec is installed at %s", kdir)
		}
		return nil
	}
	if err != nil {
		return err
	}
	removed, edited, foreign, err := m.removeAll()
	if err != nil {
		return err
	}
	o.step("removed", "%d file(s) gonbgpu wrote", removed)
	for _, rel := range edited {
		o.step("kept", "%s: changed since gonbgpu wrote it, so it is yours now (delete it yourself if you want it gone)",
			filepath.Join(kdir, rel))
	}
	if len(foreign) > 0 {
		o.step("kept", "%s (not written by gonbgpu)", strings.Join(foreign, ", "))
	}
	if len(edited) == 0 && len(foreign) == 0 {
		o.step("done", "%s removed", kdir)
	}
	return nil
}
