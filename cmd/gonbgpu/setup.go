package main

import (
	"flag"
	"os"

	"github.com/gonbgpu/gonbgpu/install"
)

func init() {
	register("setup", "install the system packages `make run`/`make test` need (apt-get, as root), or list them", runSetup)
}

func runSetup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return install.Setup(os.Stdout)
}
