package main

import (
	"flag"
	"os"

	"github.com/gonbgpu/gonbgpu/install"
)

func init() {
	register("setup", "install the system packages `make run` needs (--tests: and `make test`) with apt-get as root, or list them", runSetup)
}

func runSetup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	tests := fs.Bool("tests", false, "also the packages only the tests need (chromium, for the browser test)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tests {
		return install.SetupTests(os.Stdout)
	}
	return install.Setup(os.Stdout)
}
