// Command visionbench runs the vision benchmarks of package vision/bench without the gonbgpu CLI:
//
//	GOEXPERIMENT=simd go run ./internal/cmd/visionbench -conv
//	GOEXPERIMENT=simd go run ./internal/cmd/visionbench -train resnet20 -batch 64 -size 28 -channels 1
//	GOEXPERIMENT=simd go run ./internal/cmd/visionbench -train resnet18 -batch 32 -size 32 -channels 3 -steps 3
//
// The backend is the process backend of package gpu (GOMLX_BACKEND=go forces the pure-Go one).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/vision/bench"
	"github.com/gonbgpu/gonbgpu/vision/conv"
	"github.com/gonbgpu/gonbgpu/vision/resnet"
)

func main() {
	convFlag := flag.Bool("conv", false, "run the 3x3 convolution forward+backward benchmark")
	runs := flag.Int("runs", 10, "timed runs per convolution shape (the median is printed)")
	nhwc := flag.Bool("nhwc", false, "benchmark NHWC tensors even where the backend prefers CNHW")
	native := flag.Bool("native", false, "use the backend's native convolution even on the pure-Go backend")
	trainModel := flag.String("train", "", "run the training-throughput benchmark of this model (e.g. resnet20)")
	width := flag.Float64("width", 1, "width multiplier of the trained model")
	plain := flag.Bool("plain", false, "train the plain twin (no skip connections)")
	batch := flag.Int("batch", 64, "training batch size")
	size := flag.Int("size", 28, "training image height and width")
	channels := flag.Int("channels", 1, "training image channels")
	steps := flag.Int("steps", 10, "timed training steps (the median is printed)")
	warmup := flag.Int("warmup", 3, "untimed training steps first")
	bn := flag.String("bn", "auto", "batch norm: auto, exact (graph ops, exact gradient) or gomlx (norm.BatchNorm)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	backend, err := gpu.NewBackend()
	if err != nil {
		fail(err)
	}
	if gpu.IsPureGo(backend) && !bench.SIMD {
		fmt.Fprintln(os.Stderr, "visionbench: warning: built without GOEXPERIMENT=simd, the pure-Go backend's matrix products are several times slower")
	}
	if *convFlag {
		opts := bench.ConvOptions{Runs: *runs, NHWC: *nhwc}
		if *native {
			opts.Impl = conv.Native
		}
		if err := bench.ConvBench(os.Stdout, backend, opts); err != nil {
			fail(err)
		}
	}
	if *trainModel != "" {
		opts := bench.TrainOptions{Model: *trainModel, Width: *width, Plain: *plain, Batch: *batch, Size: *size,
			Channels: *channels, Steps: *steps, Warmup: *warmup}
		switch *bn {
		case "auto":
		case "exact":
			opts.BatchNorm = resnet.BatchNormExact
		case "gomlx":
			opts.BatchNorm = resnet.BatchNormGoMLX
		default:
			fail(fmt.Errorf("unknown -bn %q", *bn))
		}
		if _, err := bench.TrainBench(os.Stdout, backend, opts); err != nil {
			fail(err)
		}
	}
	if !*convFlag && *trainModel == "" {
		flag.Usage()
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "visionbench:", err)
	os.Exit(1)
}
