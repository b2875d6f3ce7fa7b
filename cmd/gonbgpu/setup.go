package main

import (
	"os"

	"github.com/gonbgpu/gonbgpu/internal/installer"
)

func init() {
	register("setup", "install the system packages `make run` needs (--tests: and `make test`) with apt-get as root, or list them", runSetup)
}

func runSetup(args []string) error {
	fs := newFlags("setup", "[--tests]", "gonbgpu setup            # as root on Debian: apt-get installs what `make run` needs")
	tests := fs.Bool("tests", false, "also the packages only the tests need (chromium, for the browser test)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *tests {
		return installer.SetupTests(os.Stdout)
	}
	return installer.Setup(os.Stdout)
}
