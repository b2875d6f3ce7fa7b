// Package install puts the "Go (gonbgpu)" kernel into Jupyter, and takes it out again.
//
// An install is a sequence of steps, each reporting one line: find (or, as root on Debian, install)
// Jupyter; build GoNB, goimports and gopls into the kernelspec's own bin folder; download every module so
// that notebook cells resolve imports offline on compute nodes; look for a CUDA PJRT plugin; write the
// kernelspec; and ask Jupyter to confirm it sees it.
//
// Installs are safe to repeat and never touch what is not theirs: every file written is recorded with its
// checksum in a manifest inside the kernelspec folder, so a reinstall can tell an unchanged file from one
// the user edited (kept, unless Force), and an uninstall removes exactly the files it wrote.
package install

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gonbgpu/gonbgpu/kernel/spec"
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
	KernelDir string     // …/kernels/gonbgpu
	Spec      *spec.Spec // what kernel.json now holds
	Kept      bool       // kernel.json was edited by the user and kept
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
		if err := InstallCUDA(&o); err != nil {
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
	kdir := filepath.Join(dataDir, "kernels", spec.Name)
	o.step("location", "%s (%s)", kdir, how)

	m, err := openManifest(kdir, o.Force)
	if err != nil {
		return nil, err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("gonbgpu install: the go command is not on PATH: install Go 1.26 (https://go.dev/dl) first")
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
	s := &spec.Spec{
		Argv:          []string{filepath.Join(binDir, "gonb"), "--kernel", "{connection_file}", "-go_work=" + checkout},
		DisplayName:   spec.DisplayName,
		Language:      "go",
		InterruptMode: "message",
		Env:           env,
		Metadata:      map[string]any{"gonbgpu": map[string]any{"checkout": checkout}},
	}
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
	kdir := filepath.Join(dataDir, "kernels", spec.Name)
	o.step("location", "%s (%s)", kdir, how)
	m, err := readManifest(kdir)
	if errors.Is(err, os.ErrNotExist) {
		if _, statErr := os.Stat(kdir); statErr == nil {
			return fmt.Errorf("gonbgpu uninstall: %s has no gonbgpu manifest: it was not written by `gonbgpu install`, so it is left alone", kdir)
		}
		o.step("nothing", "no gonbgpu kernelspec installed there")
		return nil
	}
	if err != nil {
		return err
	}
	removed, kept, err := m.removeAll()
	if err != nil {
		return err
	}
	o.step("removed", "%d file(s)", removed)
	if len(kept) > 0 {
		o.step("kept", "%s (not written by gonbgpu)", strings.Join(kept, ", "))
	} else {
		o.step("done", "%s removed", kdir)
	}
	return nil
}
