package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/gomlx/compute/dtypes"
	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/vision/bench"
	"github.com/gonbgpu/gonbgpu/vision/conv"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

func init() {
	register("bench", "print convolution and training-step figures on the auto-chosen backend", runBench)
}

func runBench(args []string) error {
	fs := newFlags("bench", "[flags]", "gonbgpu bench --model resnet20 --batch 64 --steps 5")
	cpu, gpuOpts := bench.DefaultTrainOptions(false), bench.DefaultTrainOptions(true) // the defaults, written once there
	byDevice := func(c, g any) string { return fmt.Sprintf("(default %v on the CPU, %v on a GPU)", c, g) }
	model := fs.String("model", "", "model for the training-step figure "+byDevice(cpu.Model, gpuOpts.Model))
	batch := fs.Int("batch", 0, "batch size "+byDevice(cpu.Batch, gpuOpts.Batch))
	size := fs.Int("size", 0, "image side "+byDevice(cpu.Size, gpuOpts.Size))
	channels := fs.Int("channels", 0, "image channels "+byDevice(cpu.Channels, gpuOpts.Channels))
	steps := fs.Int("steps", cpu.Steps, fmt.Sprintf("timed training steps (after %d warm-up steps)", cpu.Warmup))
	noConv := fs.Bool("no-conv", false, "skip the matrix-product and convolution figures")
	width := fs.Float64("width", cpu.Width, "width multiplier of the trained model")
	plain := fs.Bool("plain", false, "train the plain twin (no skip connections)")
	bn := fs.String("bn", "auto", "batch norm: auto, exact (graph ops, exact gradient) or gomlx (norm.BatchNorm)")
	convImpl := fs.String("conv", "auto", "convolution: auto (lowered on pure Go, native on XLA), native (the backend's) or lowered (shifted copies and one matrix product)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` (go tool pprof reads it)")
	compare := fs.Bool("compare", false, "put the pure-Go backend, XLA on the CPU and PyTorch CPU side by side, from one run: "+
		"convolutions, the training step, its first step (compilation) and a new cell's latency")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var bnImpl resnet.BatchNormImpl
	switch *bn {
	case "auto":
	case "exact":
		bnImpl = resnet.BatchNormExact
	case "gomlx":
		bnImpl = resnet.BatchNormGoMLX
	default:
		return fmt.Errorf("gonbgpu bench: --bn %q: want auto, exact or gomlx", *bn)
	}
	var ci conv.Impl
	switch *convImpl {
	case "auto":
	case "native":
		ci = conv.Native
	case "lowered":
		ci = conv.Lowered
	default:
		return fmt.Errorf("gonbgpu bench: --conv %q: want auto, native or lowered", *convImpl)
	}
	if *width <= 0 || *width > 16 {
		return fmt.Errorf("gonbgpu bench: --width %v: want a multiplier in (0, 16]", *width)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("gonbgpu bench: --cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("gonbgpu bench: --cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	opts := bench.TrainOptions{Model: *model, Batch: *batch, Size: *size, Channels: *channels, Steps: *steps,
		Width: *width, Plain: *plain, BatchNorm: bnImpl, ConvImpl: ci}
	if *compare {
		return compareBackends(os.Stdout, opts)
	}
	choice, err := gpu.Default()
	if err != nil {
		return err
	}
	sayIfJobOnCPU(choice)
	b := choice.Backend
	fmt.Printf("backend %s, %d device(s)\n", choice.Name, b.NumDevices())
	if !*noConv {
		// The matrix-product rate first: the ceiling of everything below on this backend.
		if err := bench.MatMulBench(os.Stdout, b, bench.DefaultMatMulSize(b)); err != nil {
			return err
		}
		if _, err := bench.ConvBench(os.Stdout, b, bench.ConvOptions{Impl: ci}); err != nil {
			return err
		}
	}
	if _, err := bench.TrainBench(os.Stdout, b, opts); err != nil {
		return err
	}
	if !choice.PureGo() {
		// Mixed precision: bf16 convolutions on the tensor cores (the pure-Go backend has no fast bf16).
		opts.ComputeDType = dtypes.BFloat16
		if _, err := bench.TrainBench(os.Stdout, b, opts); err != nil {
			return err
		}
	}
	return nil
}
