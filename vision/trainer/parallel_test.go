package trainer

import (
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu/platform"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/gomlx/compute"
	"github.com/gonbgpu/gonbgpu/vision/parallel"
)

func TestDistributeSingleDeviceIsIdentity(t *testing.T) {
	d := testData()
	p, err := parallel.New(platform.Of(testutil.Backend(t)), 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Distribute(testutil.Backend(t), d, p)
	if err != nil || out.Train != d.Train || out.Test != d.Test {
		t.Fatalf("one device must keep the datasets as they are: %v", err)
	}
}

// TestDistributedDataForwards checks the epoch, size and skip bookkeeping of the data-parallel wrapper
// for 2 devices (which this machine doesn't have: the batches themselves are only built on a GPU node).
func TestDistributedDataForwards(t *testing.T) {
	d := testData()
	src := d.Train.(*blobs) // 96 images in batches of 16: 6 per-device batches
	p := &parallel.Plan{Devices: []compute.DeviceNum{0, 1}, GlobalBatch: 32, PerDevice: 16}
	out, err := Distribute(testutil.Backend(t), d, p)
	if err != nil {
		t.Fatal(err)
	}
	dd, ok := out.Train.(*distributedData)
	if !ok {
		t.Fatalf("train data not wrapped: %T", out.Train)
	}
	if dd.NumBatches() != 3 {
		t.Errorf("6 per-device batches over 2 devices are 3 global ones, got %d", dd.NumBatches())
	}
	dd.SetEpoch(4)
	dd.StartAt(2)
	if src.epoch != 4 || src.startAt != 4 {
		t.Errorf("SetEpoch/StartAt not forwarded in per-device batches: epoch %d, startAt %d", src.epoch, src.startAt)
	}
	if len(dd.DeviceAssignment()) != 2 {
		t.Errorf("device assignment %v", dd.DeviceAssignment())
	}
}
