package main

import (
	"flag"
	"fmt"

	"github.com/gonbgpu/gonbgpu/install"
)

func init() {
	register("install", "install the \"Go (gonbgpu)\" Jupyter kernel with its tools (idempotent)", runInstall)
	register("uninstall", "remove the gonbgpu kernelspec (only the files gonbgpu wrote)", runUninstall)
}

// installFlags are the flags install and uninstall share.
func installFlags(name string, o *install.Options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	user := fs.Bool("user", true, "install into the user's Jupyter data dir ($JUPYTER_DATA_DIR or `jupyter --data-dir`)")
	_ = user
	fs.StringVar(&o.Prefix, "prefix", "", "install into `DIR`/share/jupyter instead (e.g. a conda env or a shared course folder)")
	fs.StringVar(&o.DataDir, "data-dir", "", "install into this Jupyter data `DIR` (overrides $JUPYTER_DATA_DIR)")
	return fs
}

func runInstall(args []string) error {
	var o install.Options
	fs := installFlags("install", &o)
	fs.BoolVar(&o.Force, "force", false, "overwrite a kernel.json edited since the last install")
	fs.StringVar(&o.Checkout, "checkout", "", "gonbgpu source `DIR` whose packages cells import (default: the checkout above the current folder)")
	fs.BoolVar(&o.NoSystemPackages, "no-apt", false, "never install Jupyter with apt-get, even as root")
	fs.BoolVar(&o.CUDA, "cuda", false, "first download the CUDA PJRT plugin with go-xla's installer (needs the internet)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	res, err := install.Install(o)
	if err != nil {
		return err
	}
	fmt.Printf("Done: open Jupyter and pick the %q kernel (%s).\n", res.Spec.DisplayName, res.KernelDir)
	return nil
}

func runUninstall(args []string) error {
	var o install.Options
	fs := installFlags("uninstall", &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return install.Uninstall(o)
}
