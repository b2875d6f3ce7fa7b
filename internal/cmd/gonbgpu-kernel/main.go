// Command gonbgpu-kernel is what the "Go (gonbgpu)" kernelspec runs: it starts GoNB (its arguments) as a
// child and ends whatever a cell leaves running once the cell is over, and everything below the kernel
// when the kernel stops. See package internal/reaper.
//
//	gonbgpu-kernel PATH/TO/gonb --kernel {connection_file} -go_work=…
package main

import (
	"fmt"
	"os"

	"github.com/gonbgpu/gonbgpu/internal/reaper"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintf(os.Stderr, "Usage: gonbgpu-kernel GONB [ARGS…]\n\nRuns the Jupyter kernel GONB so that the processes a cell starts end with the cell.\n\n"+
			"Example:\n  gonbgpu-kernel ~/.local/share/jupyter/kernels/gonbgpu/bin/gonb --kernel conn.json\n")
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	code, err := reaper.Run(os.Args[1:], reaper.Options{Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gonbgpu-kernel:", err)
	}
	os.Exit(code)
}
