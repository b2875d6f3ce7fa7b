package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/nbrun"
)

func init() {
	register("notebooks", "execute notebooks headless into .ipynb and .html, with a summary table", runNotebooks)
}

func runNotebooks(args []string) error {
	fs := newFlags("notebooks", "[flags] [NOTEBOOK.ipynb …]", "gonbgpu notebooks --out out notebooks/00-setup-check.ipynb")
	out := fs.String("out", "out", "folder for the executed notebooks and their HTML")
	inPlace := fs.Bool("in-place", false, "also copy each executed notebook over its source (to commit fresh outputs)")
	cellTimeout := fs.Duration("cell-timeout", 30*time.Minute, "time limit for one cell")
	verbose := fs.Bool("v", false, "show Jupyter's and the kernel's logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	paths := fs.Args()
	if len(paths) == 0 {
		var err error
		paths, err = filepath.Glob(filepath.Join("notebooks", "*.ipynb"))
		if err != nil || len(paths) == 0 {
			return fmt.Errorf("no notebooks given and none found in ./notebooks")
		}
		sort.Strings(paths)
	}
	// Refuse, before running anything, an output folder that would overwrite or delete a source.
	if err := nbrun.CheckOutDir(*out, paths...); err != nil {
		return err
	}
	o := nbrun.Options{OutDir: *out, HTML: true, CellTimeout: *cellTimeout}
	if *verbose {
		o.Log = os.Stderr
	}
	var results []*nbrun.Result
	failed := 0
	for _, p := range paths {
		fmt.Printf("running %s …\n", p)
		r := nbrun.Run(p, o)
		results = append(results, r)
		if !r.OK() {
			failed++
			if r.Err != nil {
				fmt.Println(" ", r.Err)
			}
			for _, e := range r.Errors {
				fmt.Println(" ", e)
			}
		}
		if *inPlace && r.Executed != "" && r.OK() {
			data, err := os.ReadFile(r.Executed)
			if err == nil {
				err = os.WriteFile(p, data, 0o644)
			}
			if err != nil {
				return err
			}
		}
	}
	fmt.Println()
	fmt.Print(nbrun.Summary(results))
	fmt.Printf("\nExecuted notebooks and HTML are in %s/\n", *out)
	if failed > 0 {
		return fmt.Errorf("%d of %d notebook(s) failed", failed, len(results))
	}
	return nil
}
