package gpu

import (
	"errors"
	"strings"
	"testing"
)

const gib = 1 << 30

func TestCheckFitsOnHost(t *testing.T) {
	host := Device{Index: 0, Kind: CPU, Name: "AMD EPYC", MemoryTotal: 24 * gib, MemoryFree: 20 * gib}
	if err := CheckFitsOn(host, 19*gib); err != nil {
		t.Errorf("19 GiB in 20 GiB free: %v", err)
	}
	if err := CheckFitsOn(host, 0); err != nil {
		t.Errorf("0 bytes: %v", err)
	}
	err := CheckFitsOn(host, 1<<40+200*gib)
	var me *MemoryError
	if !errors.As(err, &me) || me.Need != 1<<40+200*gib || me.Device.MemoryFree != 20*gib {
		t.Fatalf("want a *MemoryError, got %#v", err)
	}
	want := "gonbgpu: not enough memory: needs 1.2 TiB but device 0 (host CPU) has 20.0 GiB free (24.0 GiB total)"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err, want)
	}
}

func TestCheckFitsOnGPU(t *testing.T) {
	gpu := Device{Index: 1, Kind: GPU, Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 80 * gib, MemoryFree: 60 * gib, Source: "nvml"}
	err := CheckFitsOn(gpu, 61*gib)
	if err == nil || !strings.Contains(err.Error(), "needs 61.0 GiB but device 1 (NVIDIA H100 80GB HBM3) has 60.0 GiB free (80.0 GiB total)") {
		t.Errorf("got %v", err)
	}
	gpu.MemoryFree = 0 // full, but the total is known: nothing fits
	if err := CheckFitsOn(gpu, 1); err == nil || !strings.Contains(err.Error(), "has 0 B free") {
		t.Errorf("full GPU: got %v", err)
	}
}

func TestCheckFitsOnUnknownMemoryAndBadRequests(t *testing.T) {
	pjrt := Device{Index: 0, Kind: GPU, Name: "cuda:0", Source: "pjrt"} // memory unknown
	if err := CheckFitsOn(pjrt, 1<<50); err != nil {
		t.Errorf("unknown memory must not refuse: %v", err)
	}
	if err := CheckFitsOn(HostDevice(), -1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative request: %v", err)
	}
}

// TestCheckFitsHost uses the real backend (pure Go here) and the host's real memory.
func TestCheckFitsHost(t *testing.T) {
	t.Setenv(BackendEnv, "go")
	t.Setenv(RequireGPUEnv, "") // gpu-check requires the GPU for the other tests; this one is about the host
	freshBackend(t)             // whatever backend an earlier test created: this one is the pure-Go backend's
	if err := CheckFits(1 << 20); err != nil {
		t.Errorf("1 MiB should fit: %v", err)
	}
	err := CheckFits(1 << 60)
	var me *MemoryError
	if !errors.As(err, &me) || me.Device.Kind != CPU || me.Device.MemoryFree == 0 {
		t.Fatalf("1 EiB: want a *MemoryError on the host, got %v", err)
	}
	if !strings.Contains(err.Error(), "needs 1.0 EiB but device 0 (host CPU) has ") {
		t.Errorf("message: %v", err)
	}
}

// TestCheckFitsOnNVML checks real GPUs when NVML sees any (GPU nodes); elsewhere it checks that no GPU
// is reported, so it passes or fails on every machine and never skips.
func TestCheckFitsOnNVML(t *testing.T) {
	gpus, _, err := nvmlDevices()
	if err != nil || len(gpus) == 0 {
		for _, d := range Devices(nil) {
			if d.Kind == GPU {
				t.Fatalf("NVML unavailable (%v) but Devices lists GPU %+v", err, d)
			}
		}
		t.Logf("no GPU visible through NVML (%v): only the host was checked", err)
		return
	}
	for _, d := range gpus {
		if d.MemoryTotal == 0 || d.MemoryFree > d.MemoryTotal {
			t.Errorf("GPU %d: bad memory figures %+v", d.Index, d)
			continue
		}
		if err := CheckFitsOn(d, int64(d.MemoryFree/2)); err != nil {
			t.Errorf("half the free memory of GPU %d should fit: %v", d.Index, err)
		}
		err := CheckFitsOn(d, int64(d.MemoryTotal)+1)
		if err == nil || !strings.Contains(err.Error(), d.Name) {
			t.Errorf("GPU %d: more than its total should not fit: %v", d.Index, err)
		}
		t.Logf("%v", err)
	}
}

func TestExplainOutOfMemory(t *testing.T) {
	xlaErr := errors.New("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 68719476736 bytes.")
	if !IsOutOfMemory(xlaErr) || IsOutOfMemory(errors.New("shapes do not match")) || IsOutOfMemory(nil) {
		t.Fatal("IsOutOfMemory misclassifies")
	}
	err := ExplainOutOfMemory(xlaErr, "training with batch size 4096")
	if !errors.Is(err, xlaErr) || !strings.Contains(err.Error(), "--batch") || !strings.Contains(err.Error(), "batch size 4096") {
		t.Fatalf("explained: %v", err)
	}
	other := errors.New("something else")
	if ExplainOutOfMemory(other, "x") != other {
		t.Fatal("other errors must pass through unchanged")
	}
}
