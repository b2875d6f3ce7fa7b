package bench

import (
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestTimeGraph(t *testing.T) {
	cpu := goBackend(t)
	small := tensors.FromFlatDataAndDimensions(make([]float32, 32*32), 32, 32)
	big := tensors.FromFlatDataAndDimensions(make([]float32, 256*256), 256, 256)
	mm := func(x *graph.Node) *graph.Node { return graph.MatMul(x, x) }
	ts, err := TimeGraph(cpu, 0, mm, small, 5, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := TimeGraph(cpu, 0, mm, big, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Runs < 5 || ts.Median <= 0 || ts.Min > ts.Median || ts.Compile <= 0 {
		t.Fatalf("timing: %+v", ts)
	}
	// 512× the arithmetic must take clearly longer: the timing measures the work, not just overhead.
	if tb.Median < 4*ts.Median {
		t.Errorf("256² matmul (%v) should be much slower than 32² (%v)", tb.Median, ts.Median)
	}
}

func TestTimeTransfer(t *testing.T) {
	cpu := goBackend(t)
	tr, err := TimeTransfer(cpu, 0, 4<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Bytes != 4<<20 || tr.HostToDevice <= 0 || tr.DeviceToHost <= 0 || GBps(tr.Bytes, tr.HostToDevice) <= 0 {
		t.Fatalf("%+v", tr)
	}
}
