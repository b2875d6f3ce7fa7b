// Command gonbgpu installs the Go (gonbgpu) Jupyter kernel, lists devices, runs the notebooks headless,
// and trains the course's models in batch jobs (the `python model.py` of a SLURM script).
//
//	gonbgpu install [--user | --prefix DIR] [--force]   install the Jupyter kernelspec and its tools
//	gonbgpu uninstall [--user | --prefix DIR]          remove gonbgpu's kernelspec (only its own files)
//	gonbgpu devices                                    show the backend choice and a device table
//	gonbgpu notebooks [--out DIR] [NOTEBOOK…]          execute notebooks headless into .ipynb and .html
//	gonbgpu train --dataset D --model M --epochs N …   train a ResNet (the sbatch job), resumable
//	gonbgpu report RUN_DIR…                            compare runs: s/epoch, time to accuracy, speedup
//	gonbgpu bench                                      convolution and training-step figures
//	gonbgpu data fetch fashion-mnist|cifar10           download a dataset, verified, into $GONBGPU_DATA
//
// Run `gonbgpu help COMMAND` for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// command is one subcommand of gonbgpu.
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func usage() {
	fmt.Fprintf(os.Stderr, "gonbgpu: a Go Jupyter kernel with GPU tensors (GoMLX on XLA/CUDA or pure Go).\n\nUsage: gonbgpu COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun `gonbgpu COMMAND -h` for a command's flags.\n")
}

// newFlags returns the flag set of a command. Its -h/--help prints the command's summary, its usage line
// (args), an example and the flags; main then exits 0, as for any help that was asked for.
func newFlags(name, args, example string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "gonbgpu %s: %s\n\nUsage: gonbgpu %s %s\n\nExample:\n", name, commands[name].summary, name, args)
		for _, l := range strings.Split(example, "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
		fmt.Fprintf(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseNoArgs parses a command's flags and refuses anything else on its command line: a stray word is
// usually a mistyped flag (`gonbgpu train epochs 3`), and ignoring it would run something else.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags start with -; see --help)", fs.Args())
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "help" || name == "-h" || name == "--help" {
		if len(os.Args) > 2 {
			if c, ok := commands[os.Args[2]]; ok {
				_ = c.run([]string{"-h"}) // prints the command's usage and returns flag.ErrHelp
				return
			}
		}
		usage()
		return
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "gonbgpu: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h or --help: the usage was printed, and asking for it is no error
		}
		code := 1
		if e, ok := err.(*exitError); ok {
			code = e.code
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "gonbgpu") {
			msg = "gonbgpu " + name + ": " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(code)
	}
}
