package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX style.

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// DefaultMatMulSize is the side of the matrices [MatMulBench] multiplies by default on backend b: 1024 on
// the CPU (a fraction of a second), 8192 on a GPU (large enough to keep its cores busy).
func DefaultMatMulSize(b compute.Backend) int {
	if platform.IsCUDA(b) {
		return 8192
	}
	return 1024
}

// MatMulBench times one float32 n×n by n×n matrix product on device 0 of backend b (the operand already
// on the device) and prints its rate:
//
//	matmul n=1024 float32: 81.3 GFLOP/s (26.4 ms)
//
// It is the ceiling that explains the other figures: a convolution lowered to a matrix product, or a
// ResNet training step, cannot run faster than the backend multiplies matrices, so this line says what a
// CPU (or GPU) can do at best, whatever the model.
func MatMulBench(w io.Writer, b compute.Backend, n int) error {
	if n <= 0 {
		return fmt.Errorf("matmul benchmark: size %d, want > 0", n)
	}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	x := randomTensor(rng, n, n)
	defer x.MustFinalizeAll()
	t, err := TimeGraph(b, 0, func(x *Node) *Node { return MatMul(x, x) }, x, 3, 500*time.Millisecond)
	if err != nil {
		return fmt.Errorf("matmul n=%d: %w", n, err)
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	_, err = fmt.Fprintf(w, "matmul n=%d float32: %.1f GFLOP/s (%.2f ms)\n", n, flops/t.Median.Seconds()/1e9,
		float64(t.Median.Microseconds())/1000)
	return err
}
