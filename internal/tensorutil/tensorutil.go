// Package tensorutil holds small helpers for reading GoMLX tensors that several packages share.
package tensorutil

import (
	"math"

	"github.com/gomlx/gomlx/core/tensors"
)

// Float64 reads a scalar float32 or float64 tensor (a metric, a norm) as a float64, and NaN for anything
// else. Reading it waits for the computation that produces it.
func Float64(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}
