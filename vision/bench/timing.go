package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Timing is how long a computation took.
type Timing struct {
	// Compile is the first call: building and compiling the graph, plus one run.
	Compile time.Duration
	// Median and Min of the timed runs, each waiting for its result.
	Median, Min time.Duration
	Runs        int
}

// TimeGraph measures fn on device dev of backend b: it moves x to the device first (so the transfer is
// not timed), calls once to compile, then repeats the call at least minRuns times and for at least
// minTime (at most 1000 runs). Each run waits for its result: fn's output is summed to a scalar inside
// the graph and that scalar is read back, which blocks until the device has finished, without timing
// a copy of the whole output.
func TimeGraph(b compute.Backend, dev compute.DeviceNum, fn func(x *graph.Node) *graph.Node, x *tensors.Tensor,
	minRuns int, minTime time.Duration) (Timing, error) {
	var t Timing
	exec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(fn(x))
	})
	if err != nil {
		return t, err
	}
	defer exec.Finalize()
	if err := x.MaterializeOnDevice(b, false, dev); err != nil {
		return t, fmt.Errorf("moving the input to device %d: %w", dev, err)
	}
	run := func() (time.Duration, error) {
		start := time.Now()
		out, _, err := exec.CallWithGraphOnDevice(dev, x) // not ExecOnDevice: GoMLX v0.28.16's ignores dev
		if err != nil {
			return 0, err
		}
		if _, err := out[0].ValueSafe(); err != nil { // waits for the device
			return 0, err
		}
		d := time.Since(start)
		out[0].MustFinalizeAll()
		return d, nil
	}
	if t.Compile, err = run(); err != nil {
		return t, err
	}
	var runs []time.Duration
	start := time.Now()
	for len(runs) < minRuns || (time.Since(start) < minTime && len(runs) < 1000) {
		d, err := run()
		if err != nil {
			return t, err
		}
		runs = append(runs, d)
	}
	slices.Sort(runs)
	t.Runs, t.Min, t.Median = len(runs), runs[0], runs[len(runs)/2]
	return t, nil
}

// Transfer is the measured cost of moving bytes between host and device.
type Transfer struct {
	Bytes                      int64
	HostToDevice, DeviceToHost time.Duration // medians
}

// GBps returns a transfer rate in GB/s (10⁹ bytes per second).
func GBps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds() / 1e9
}

// TimeTransfer measures copying a float32 tensor of the given size to device dev and back, reps times
// each, and returns the medians.
func TimeTransfer(b compute.Backend, dev compute.DeviceNum, bytes int64, reps int) (Transfer, error) {
	n := int(bytes / 4)
	if n < 1 {
		n = 1
	}
	res := Transfer{Bytes: int64(n) * 4}
	shape := shapes.Make(dtypes.Float32, n)
	copyExec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node { return graph.Neg(x) })
	if err != nil {
		return res, err
	}
	defer copyExec.Finalize()
	probe, err := graph.NewExec(b, func(x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Slice(x, graph.AxisRange(0, 1)))
	})
	if err != nil {
		return res, err
	}
	defer probe.Finalize()
	var h2d, d2h []time.Duration
	for range max(reps, 1) {
		host := tensors.FromShape(shape)
		start := time.Now()
		if err := host.MaterializeOnDevice(b, false, dev); err != nil {
			return res, err
		}
		h2d = append(h2d, time.Since(start))
		// A result lives only on the device: reading it is a device-to-host copy.
		out, _, err := copyExec.CallWithGraphOnDevice(dev, host)
		if err != nil {
			return res, err
		}
		host.MustFinalizeAll()
		// Make sure the computation finished before timing the copy: read one element on the device.
		p, _, err := probe.CallWithGraphOnDevice(dev, out[0])
		if err != nil {
			return res, err
		}
		_ = p[0].Value()
		p[0].MustFinalizeAll()
		start = time.Now()
		if err := out[0].ToLocal(); err != nil {
			return res, err
		}
		d2h = append(d2h, time.Since(start))
		out[0].MustFinalizeAll()
	}
	slices.Sort(h2d)
	slices.Sort(d2h)
	res.HostToDevice, res.DeviceToHost = h2d[len(h2d)/2], d2h[len(d2h)/2]
	return res, nil
}
