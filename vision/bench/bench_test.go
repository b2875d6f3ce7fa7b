package bench

import (
	"bytes"
	"fmt"
	"regexp"
	"testing"

	_ "github.com/gomlx/gomlx/backends/default"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// goBackend is the pure-Go backend, whatever backend the process would choose.
var goBackend = testutil.GoBackend

func TestConvBenchFormat(t *testing.T) {
	var out bytes.Buffer
	_, err := ConvBench(&out, goBackend(t), ConvOptions{Shapes: []ConvShape{{2, 6, 4}, {3, 5, 8}}, Warmup: 1, Runs: 1})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	want := regexp.MustCompile(`^conv3x3 b=2 h=6 c=4: [0-9]+\.[0-9] ms fwd\+bwd\nconv3x3 b=3 h=5 c=8: [0-9]+\.[0-9] ms fwd\+bwd\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("unexpected output:\n%s", out.String())
	}
}

func TestMatMulBenchFormat(t *testing.T) {
	var out bytes.Buffer
	if err := MatMulBench(&out, goBackend(t), 64); err != nil {
		t.Fatalf("%+v", err)
	}
	want := regexp.MustCompile(`^matmul n=64 float32: [0-9]+\.[0-9] GFLOP/s \([0-9]+\.[0-9]{2} ms\)\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("unexpected output: %q", out.String())
	}
	if err := MatMulBench(&out, goBackend(t), 0); err == nil {
		t.Errorf("no error for size 0")
	}
}

func TestTrainBenchFormat(t *testing.T) {
	var out bytes.Buffer
	res, err := TrainBench(&out, goBackend(t), TrainOptions{Model: "resnet20", Width: 0.25, Batch: 4, Size: 12,
		Warmup: 1, Steps: 2})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	want := regexp.MustCompile(`^train resnet20-w0\.25 batch=4 size=12: [0-9]+\.[0-9] img/s, [0-9]+\.[0-9] ms/step, first step [0-9]+\.[0-9] s\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("unexpected output:\n%s", out.String())
	}
	if res.ImagesPerSecond <= 0 || res.StepMillis <= 0 || res.FirstSeconds <= 0 {
		t.Errorf("result %+v", res)
	}
	if _, err := TrainBench(&out, goBackend(t), TrainOptions{Model: "resnet19"}); err == nil {
		t.Errorf("no error for an unknown model")
	}
}

// BenchmarkConv runs ConvBench's default shapes as Go benchmarks:
//
//	GOEXPERIMENT=simd GOMLX_BACKEND=go go test -run NONE -bench Conv ./bench
func BenchmarkConv(b *testing.B) {
	backend := goBackend(b)
	for _, s := range ConvShapes {
		b.Run(fmt.Sprintf("b%d_h%d_c%d", s.B, s.H, s.C), func(b *testing.B) {
			var out bytes.Buffer
			for range b.N {
				if _, err := ConvBench(&out, backend, ConvOptions{Shapes: []ConvShape{s}, Warmup: 1, Runs: 3}); err != nil {
					b.Fatal(err)
				}
			}
			b.Log(out.String())
		})
	}
}
