package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/installer"
)

func init() {
	register("install", "install the \"Go (gonbgpu)\" Jupyter kernel with its tools (idempotent)", runInstall)
	register("uninstall", "remove the gonbgpu kernelspec (only the files gonbgpu wrote)", runUninstall)
}

// installFlags are the flags install and uninstall share; verb words their help ("install into",
// "remove from").
func installFlags(name, verb, example string, o *installer.Options) *flag.FlagSet {
	fs := newFlags(name, "[--user | --prefix DIR | --data-dir DIR] [flags]", example)
	// --user is the default; the flag exists so that scripts can say so, and is refused beside the two
	// others (oneTarget). Its help must not hold a back-quoted word: the flag package would show that word
	// as an argument of a bool flag.
	fs.Bool("user", true, verb+" the user's Jupyter data folder ($JUPYTER_DATA_DIR, else what jupyter --data-dir prints; the default)")
	fs.StringVar(&o.Prefix, "prefix", "", verb+" `DIR`/share/jupyter instead (a conda environment, a shared course folder)")
	fs.StringVar(&o.DataDir, "data-dir", "", verb+" this Jupyter data folder `DIR` instead (overrides $JUPYTER_DATA_DIR)")
	return fs
}

// oneTarget checks the parsed flags of installFlags: --user, --prefix and --data-dir each name the
// kernelspec's Jupyter folder, so at most one may be given (otherwise --prefix silently won over --data-dir, and
// --user was read and ignored), and --user=false alone names no folder at all.
func oneTarget(fs *flag.FlagSet) error {
	var given []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "user", "prefix", "data-dir":
			given = append(given, "--"+f.Name)
		}
	})
	switch {
	case len(given) > 1:
		return fmt.Errorf("%s and %s each name the kernel's Jupyter folder: give one of them",
			strings.Join(given[:len(given)-1], ", "), given[len(given)-1])
	case len(given) == 1 && given[0] == "--user" && fs.Lookup("user").Value.String() == "false":
		return fmt.Errorf("--user=false: name the kernel's Jupyter folder instead, with --prefix DIR or --data-dir DIR")
	}
	return nil
}

func runInstall(args []string) error {
	var o installer.Options
	fs := installFlags("install", "install into", "make install-kernel                     # the same as: gonbgpu install --no-apt\ngonbgpu install --prefix $CONDA_PREFIX  # into a conda environment's Jupyter", &o)
	fs.BoolVar(&o.Force, "force", false, "overwrite a kernel.json edited since the last install")
	fs.StringVar(&o.Checkout, "checkout", "", "gonbgpu source `DIR` whose packages cells import (default: the checkout above the current folder)")
	fs.BoolVar(&o.NoSystemPackages, "no-apt", false, "never install Jupyter with apt-get, even as root")
	fs.BoolVar(&o.CUDA, "cuda", false, "first download the CUDA PJRT plugin with go-xla's installer (needs the internet)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := oneTarget(fs); err != nil {
		return err
	}
	res, err := installer.Install(o)
	if err != nil {
		return err
	}
	fmt.Printf("Done: open Jupyter and pick the %q kernel (%s).\n", res.Spec.DisplayName, res.KernelDir)
	return nil
}

func runUninstall(args []string) error {
	var o installer.Options
	fs := installFlags("uninstall", "remove from", "gonbgpu uninstall                       # the kernel installed for this user", &o)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := oneTarget(fs); err != nil {
		return err
	}
	return installer.Uninstall(o)
}
