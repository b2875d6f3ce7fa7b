package main

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
)

func init() {
	register("data", "download a dataset, verified, into $GONBGPU_DATA (default ~/.cache/gonbgpu/datasets)", runData)
}

func runData(args []string) error {
	names := strings.Join(catalog.Names(), "|")
	fs := newFlags("data", "fetch "+names+" [--mirror URL] [--dir DIR]",
		"gonbgpu data fetch fashion-mnist\nGONBGPU_DATA=/scratch/$USER/datasets gonbgpu data fetch cifar10   # on a login node")
	mirror := fs.String("mirror", "", "download from this base `URL` (a site's copy) instead of the canonical one; files are verified all the same")
	dir := fs.String("dir", "", "datasets `DIR` (default $GONBGPU_DATA, else ~/.cache/gonbgpu/datasets); the dataset goes into DIR/NAME")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] != "fetch" {
		fs.Usage()
		return fmt.Errorf("gonbgpu data: want `fetch DATASET` (%s)", names)
	}
	// Flags may come before or after the dataset's name: gonbgpu data fetch cifar10 --dir /scratch/me.
	var pos []string
	for rest = rest[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 1 {
		return fmt.Errorf("gonbgpu data fetch: want one dataset (%s), got %q", names, pos)
	}
	name := pos[0]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := catalog.FromEnvironment()
	if *dir != "" {
		o.Dir, o.DirOrigin = *dir, "--dir"
	}
	o.Mirror = *mirror
	got, err := catalog.Fetch(ctx, name, o)
	if err != nil {
		return fmt.Errorf("gonbgpu data fetch %s: %w", name, err)
	}
	fmt.Printf("%s is in %s\n", name, got)
	return nil
}
