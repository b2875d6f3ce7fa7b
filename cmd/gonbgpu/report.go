package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gonbgpu/gonbgpu/vision/report"
)

func init() {
	register("report", "compare training runs: time per epoch, time to an accuracy, speedup over one device", runReport)
}

func runReport(args []string) error {
	// Each RUN_DIR is a run's --out folder, holding its history.json.
	fs := newFlags("report", "[--target ACC] [--plots DIR] RUN_DIR…",
		"gonbgpu report --target 0.85 --plots figures runs/resnet18-1gpu runs/resnet18-2gpu runs/resnet18-4gpu")
	target := fs.Float64("target", 0, "test accuracy for the time-to-accuracy column (0: none)")
	plots := fs.String("plots", "", "folder to write the figures to, as report-N.svg (created if missing; an existing file is never replaced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return &exitError{code: 2, msg: "gonbgpu report: give one or more run folders"}
	}
	if *target < 0 || *target > 1 {
		return fmt.Errorf("--target must be an accuracy in [0, 1], got %v", *target)
	}
	runs, err := report.Load(fs.Args()...)
	if err != nil {
		return err
	}
	c := report.Compare(runs, *target)
	fmt.Print(c.Table())
	if *plots == "" {
		return nil
	}
	if err := os.MkdirAll(*plots, 0o755); err != nil {
		return fmt.Errorf("--plots: %w", err)
	}
	for i, f := range c.Figures() {
		path := filepath.Join(*plots, fmt.Sprintf("report-%d.svg", i+1))
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("--plots: %s exists already; give an empty folder", path)
		}
		if err := f.Save(path); err != nil {
			return fmt.Errorf("--plots: %w", err)
		}
		fmt.Printf("figure %q: %s\n", f.Title, path)
	}
	return nil
}
