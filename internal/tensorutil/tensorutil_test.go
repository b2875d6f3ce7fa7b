package tensorutil

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestFloat64(t *testing.T) {
	if got := Float64(tensors.FromValue(float32(1.5))); got != 1.5 {
		t.Errorf("float32 1.5 read as %g", got)
	}
	if got := Float64(tensors.FromValue(-2.25)); got != -2.25 {
		t.Errorf("float64 -2.25 read as %g", got)
	}
	if got := Float64(tensors.FromValue(int32(3))); !math.IsNaN(got) {
		t.Errorf("int32 read as %g, want NaN", got)
	}
	if got := Float64(tensors.FromValue([]float32{1, 2})); !math.IsNaN(got) {
		t.Errorf("a vector read as %g, want NaN", got)
	}
}
