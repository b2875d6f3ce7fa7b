// Command visionbench runs the vision benchmarks of package vision/bench without the gonbgpu CLI:
//
//	GOEXPERIMENT=simd go run ./internal/cmd/visionbench -conv
//	GOEXPERIMENT=simd go run ./internal/cmd/visionbench -train resnet20 -batch 64 -size 28 -channels 1
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
)

func main() {
	convFlag := flag.Bool("conv", false, "run the 3x3 convolution forward+backward benchmark")
	runs := flag.Int("runs", 10, "timed runs per convolution shape (the median is printed)")
	nhwc := flag.Bool("nhwc", false, "benchmark NHWC tensors even where the backend prefers CNHW")
	native := flag.Bool("native", false, "use the backend's native convolution even on the pure-Go backend")
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
	if *convFlag {
		opts := bench.ConvOptions{Runs: *runs, NHWC: *nhwc}
		if *native {
			opts.Impl = conv.Native
		}
		if err := bench.ConvBench(os.Stdout, backend, opts); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "visionbench:", err)
	os.Exit(1)
}
