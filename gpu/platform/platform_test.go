package platform

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/compute/gobackend"
)

const gib = 1 << 30

func TestCheckFitsOnHost(t *testing.T) {
	host := Device{Index: 0, Kind: CPU, Name: "AMD EPYC", MemoryTotal: 24 * gib, MemoryFree: 20 * gib}
	if err := CheckFits(host, 19*gib); err != nil {
		t.Errorf("19 GiB in 20 GiB free: %v", err)
	}
	if err := CheckFits(host, 0); err != nil {
		t.Errorf("0 bytes: %v", err)
	}
	err := CheckFits(host, 1<<40+200*gib)
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
	err := CheckFits(gpu, 61*gib)
	if err == nil || !strings.Contains(err.Error(), "needs 61.0 GiB but device 1 (NVIDIA H100 80GB HBM3) has 60.0 GiB free (80.0 GiB total)") {
		t.Errorf("got %v", err)
	}
	gpu.MemoryFree = 0 // full, but the total is known: nothing fits
	if err := CheckFits(gpu, 1); err == nil || !strings.Contains(err.Error(), "has 0 B free") {
		t.Errorf("full GPU: got %v", err)
	}
}

func TestCheckFitsOnUnknownMemoryAndBadRequests(t *testing.T) {
	pjrt := Device{Index: 0, Kind: GPU, Name: "cuda:0", Source: "pjrt"} // memory unknown
	if err := CheckFits(pjrt, 1<<50); err != nil {
		t.Errorf("unknown memory must not refuse: %v", err)
	}
	if err := CheckFits(Host(), -1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative request: %v", err)
	}
}

// TestHostMemoryIsTheProcesss: the host's real figures, within what this process may use.
func TestHostMemoryIsTheProcesss(t *testing.T) {
	d := Host()
	if d.Kind != CPU || d.Cores < 1 || d.MemoryTotal == 0 || d.MemoryFree == 0 || d.MemoryFree > d.MemoryTotal || d.Name == "" {
		t.Fatalf("%+v", d)
	}
	if err := CheckFits(d, 1<<20); err != nil {
		t.Errorf("1 MiB should fit on the host: %v", err)
	}
	err := CheckFits(d, 1<<60)
	var me *MemoryError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "needs 1.0 EiB but device 0 (host CPU) has ") {
		t.Errorf("1 EiB: %v", err)
	}
}

func TestFormatTable(t *testing.T) {
	devs := []Device{
		{Index: 0, Kind: GPU, Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 80 << 30, MemoryFree: 60 << 30, Source: "nvml", Detail: "driver 580.1"},
		{Index: 0, Kind: CPU, Name: "Intel Xeon", Cores: 16, MemoryTotal: 128 << 30, MemoryFree: 100 << 30, Source: "host"},
	}
	out := FormatTable("gonbgpu devices    backend: xla:cuda", devs)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 8 {
		t.Fatalf("want 8 lines, got %d:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Fatalf("ragged table:\n%s", out)
		}
	}
	for _, w := range []string{"NVIDIA H100 80GB HBM3", "20.0 GiB / 80.0 GiB", "60.0 GiB", "|    16 |", "host", "backend: xla:cuda"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	if r := Rows([]Device{{Kind: GPU, Source: "pjrt"}})[0]; r.Memory != "-" || r.Free != "-" || r.Cores != "-" {
		t.Errorf("unknown figures must show as -: %+v", r)
	}
}

// TestChoiceOfABareBackend: a backend made by hand is described by itself, computes on the host, and
// explains running out of memory with the host's figures.
func TestChoiceOfABareBackend(t *testing.T) {
	b, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	c := Of(b)
	if c.Name != "go" || c.Reason != "" || !c.PureGo() || IsCUDA(b) {
		t.Fatalf("%+v", c)
	}
	if d := c.ComputeDevice(); d.Kind != CPU || d.Source != "host" || d.MemoryTotal == 0 {
		t.Fatalf("compute device %+v", d)
	}
	if got := c.DeviceDescription(); !strings.HasPrefix(got, "host CPU, ") {
		t.Errorf("device description %q", got)
	}
	xlaErr := errors.New("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 68719476736 bytes.")
	if !isOutOfMemory(xlaErr) || isOutOfMemory(errors.New("shapes do not match")) || isOutOfMemory(nil) {
		t.Fatal("isOutOfMemory misclassifies")
	}
	err = c.ExplainOutOfMemory(xlaErr, "training with batch size 4096")
	if !errors.Is(err, xlaErr) || !strings.Contains(err.Error(), "a smaller batch") || !strings.Contains(err.Error(), "batch size 4096") ||
		!strings.Contains(err.Error(), "device 0 (") {
		t.Fatalf("explained: %v", err)
	}
	other := errors.New("something else")
	if c.ExplainOutOfMemory(other, "x") != other {
		t.Fatal("other errors must pass through unchanged")
	}
}

// TestComputeDevicesOfACUDAChoice: the GPUs described (NVML's) are the ones computed on, in the backend's
// numbering; a GPU the descriptions lack gets the backend's description and unknown memory, never the host's.
func TestComputeDevicesOfACUDAChoice(t *testing.T) {
	c := On(fakeCUDA{n: 2}, func() []Device {
		return []Device{
			{Index: 0, Kind: GPU, Name: "NVIDIA H200", MemoryTotal: 140 * gib, MemoryFree: 139 * gib, Source: "nvml"},
			{Index: 0, Kind: CPU, Name: "host", Source: "host", MemoryTotal: 512 * gib, MemoryFree: 500 * gib},
		}
	})
	c.Name = "xla:cuda"
	devs := c.ComputeDevices()
	if len(devs) != 2 || devs[0].Name != "NVIDIA H200" || devs[1].Index != 1 || devs[1].Source != "pjrt" || devs[1].MemoryTotal != 0 {
		t.Fatalf("%+v", devs)
	}
	err := c.ExplainOutOfMemory(errors.New("CUDA_ERROR_OUT_OF_MEMORY"), "evaluating")
	if !strings.Contains(err.Error(), "device 0 (NVIDIA H200, 139 GiB free of 140 GiB)") {
		t.Errorf("explained: %v", err)
	}
	if c.PureGo() || !IsCUDA(c.Backend) || c.DeviceDescription() != "cuda:0" {
		t.Errorf("kind: pure Go %v, CUDA %v, %q", c.PureGo(), IsCUDA(c.Backend), c.DeviceDescription())
	}
}

// TestIsCUDAAsksTheBackend: an XLA CPU backend whose plugin path says "gpu" and "cuda" is not CUDA, and is
// XLA on the CPU; its compute device is the host.
func TestIsCUDAAsksTheBackend(t *testing.T) {
	b := fakeXLACPU{}
	if IsCUDA(b) || !IsXLACPU(b) || IsPureGo(b) {
		t.Fatalf("XLA CPU plugin under a folder named like a GPU project: IsCUDA %v, IsXLACPU %v", IsCUDA(b), IsXLACPU(b))
	}
	if IsXLACPU(fakeCUDA{n: 1}) || !IsCUDA(fakeCUDA{n: 1}) {
		t.Fatal("a CUDA backend is CUDA, not XLA on the CPU")
	}
	c := On(b, func() []Device { return []Device{Host()} })
	if d := c.ComputeDevice(); d.Kind != CPU || d.Source != "host" {
		t.Fatalf("compute device of XLA on the CPU: %+v", d)
	}
}

// TestComputeDevicesAreLive: a Choice's devices say how much memory is free when they are asked, not when
// the backend was chosen: a cell that filled the GPU since must see it (CheckFits, ExplainOutOfMemory).
func TestComputeDevicesAreLive(t *testing.T) {
	free := uint64(139 * gib)
	c := On(fakeCUDA{n: 1}, func() []Device {
		return []Device{{Index: 0, Kind: GPU, Name: "NVIDIA H200", MemoryTotal: 140 * gib, MemoryFree: free, Source: "nvml"}}
	})
	if d := c.ComputeDevice(); d.MemoryFree != 139*gib {
		t.Fatalf("before: %+v", d)
	}
	free = 1 * gib
	if d := c.ComputeDevice(); d.MemoryFree != 1*gib {
		t.Fatalf("after a cell filled the GPU, the Choice still says %s free", FormatBytes(d.MemoryFree))
	}
}

// TestMachineNamesBackendAndDevices: the line under a figure's title names the backend, how many devices
// it computes on, and the processor behind them, for each kind of backend.
func TestMachineNamesBackendAndDevices(t *testing.T) {
	b, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	host := Host().Name
	for _, tc := range []struct {
		c    *Choice
		want string
	}{
		{Of(b), fmt.Sprintf("go (pure Go), one device: %d cores of %s", HostCores(), host)},
		{&Choice{Backend: fakeCUDA{n: 4}, Name: "xla:cuda"}, "xla:cuda, 4 × cuda:0"},
		{&Choice{Backend: fakeXLACPU{}, Name: "xla:cpu"}, fmt.Sprintf("xla:cpu, 4 CPU devices sharing %d cores, %s", HostCores(), host)},
	} {
		if got := tc.c.Machine(); got != tc.want {
			t.Errorf("Machine() = %q, want %q", got, tc.want)
		}
	}
}
