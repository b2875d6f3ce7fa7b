package nvidia

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// node4 is a 4-GPU node as NVML sees it from a SLURM job holding only physical GPU 2 (ConstrainDevices:
// the others cannot be opened).
func node4(jobGPUs ...int) *nvmlInfo {
	info := &nvmlInfo{Driver: "580.65.06", CUDA: 13000}
	for i := range 4 {
		g := nvmlGPU{Index: i, UUID: "GPU-" + strings.Repeat(string(rune('a'+i)), 8), Name: "NVIDIA A100-SXM4-80GB",
			BusID: "00000000:" + string(rune('1'+i)) + "0:00.0", Minor: i, MemoryTotal: 80 << 30, MemoryFree: uint64(70-i) << 30,
			CCMajor: 8, SMs: 108}
		g.Err = errors.New("NVML cannot open GPU: Insufficient Permissions")
		for _, j := range jobGPUs {
			if j == i {
				g.Err = nil
			}
		}
		info.GPUs = append(info.GPUs, g)
	}
	return info
}

func TestVisibleGPUsSlurmRenumbered(t *testing.T) {
	// SLURM renumbers the job's one GPU as 0; NVML's index 0 is another job's GPU.
	devs, notes := visibleGPUs(node4(2), "0", true, "PCI_BUS_ID")
	if len(devs) != 1 || devs[0].UUID != "GPU-cccccccc" || devs[0].Index != 0 || devs[0].MemoryFree != 68<<30 {
		t.Fatalf("CUDA_VISIBLE_DEVICES=0 in a job holding physical GPU 2: got %+v", devs)
	}
	if !strings.Contains(devs[0].Detail, "physical GPU 2") || len(notes) != 1 || !strings.Contains(notes[0], "cannot open GPU(s) 0,1,3") {
		t.Errorf("detail %q, notes %q", devs[0].Detail, notes)
	}
	// Two GPUs, renumbered 0,1: physical 1 and 3 in PCI order.
	devs, _ = visibleGPUs(node4(3, 1), "0,1", true, "PCI_BUS_ID")
	if len(devs) != 2 || devs[0].UUID != "GPU-bbbbbbbb" || devs[1].UUID != "GPU-dddddddd" {
		t.Fatalf("job GPUs 1,3: %+v", devs)
	}
	// Without cgroup limits SLURM passes physical indices, and every GPU can be opened.
	devs, _ = visibleGPUs(node4(0, 1, 2, 3), "2", true, "PCI_BUS_ID")
	if len(devs) != 1 || devs[0].UUID != "GPU-cccccccc" {
		t.Fatalf("unconstrained CUDA_VISIBLE_DEVICES=2: %+v", devs)
	}
	// Unset: every openable GPU.
	if devs, _ = visibleGPUs(node4(1, 2), "", false, "PCI_BUS_ID"); len(devs) != 2 || devs[1].Index != 1 {
		t.Fatalf("unset: %+v", devs)
	}
}

func TestVisibleGPUsByUUID(t *testing.T) {
	devs, _ := visibleGPUs(node4(0, 1, 2, 3), "GPU-dddd,GPU-aaaa", true, "PCI_BUS_ID")
	if len(devs) != 2 || devs[0].UUID != "GPU-dddddddd" || devs[1].UUID != "GPU-aaaaaaaa" || devs[0].Index != 0 {
		t.Fatalf("UUIDs: %+v", devs)
	}
	// A UUID of a GPU this process cannot open stops the list, as in CUDA.
	if devs, _ = visibleGPUs(node4(2), "GPU-cccc,GPU-aaaa", true, "PCI_BUS_ID"); len(devs) != 1 {
		t.Fatalf("closed GPU by UUID: %+v", devs)
	}
}

func TestVisibleGPUsMIG(t *testing.T) {
	info := node4(0, 1)
	info.GPUs[1].MIGEnabled = true
	info.GPUs[1].MIG = []nvmlGPU{
		{Index: 0, UUID: "MIG-11111111-aaaa", Name: "NVIDIA A100 MIG 3g.40gb", MemoryTotal: 40 << 30, MemoryFree: 39 << 30},
		{Index: 1, UUID: "MIG-22222222-bbbb", Name: "NVIDIA A100 MIG 3g.40gb", MemoryTotal: 40 << 30, MemoryFree: 30 << 30},
	}
	// SLURM hands MIG devices out by MIG UUID: it is matched with the MIG device, not its parent.
	devs, _ := visibleGPUs(info, "MIG-22222222", true, "PCI_BUS_ID")
	if len(devs) != 1 || devs[0].UUID != "MIG-22222222-bbbb" || devs[0].MemoryFree != 30<<30 || !strings.Contains(devs[0].Detail, "MIG device of physical GPU 1") {
		t.Fatalf("MIG UUID: %+v", devs)
	}
	// The parent's UUID names no CUDA device in MIG mode.
	if devs, _ = visibleGPUs(info, info.GPUs[1].UUID, true, "PCI_BUS_ID"); len(devs) != 0 {
		t.Fatalf("parent UUID of a MIG GPU: %+v", devs)
	}
	// The pre-R470 form names the parent.
	if devs, _ = visibleGPUs(info, "MIG-"+info.GPUs[1].UUID+"/1/0", true, "PCI_BUS_ID"); len(devs) != 1 || !strings.HasPrefix(devs[0].UUID, "MIG-") {
		t.Fatalf("legacy MIG form: %+v", devs)
	}
	// Unset: GPU 0 and one MIG device (CUDA enumerates one MIG device per process).
	devs, notes := visibleGPUs(info, "", false, "PCI_BUS_ID")
	if len(devs) != 2 || devs[1].UUID != "MIG-11111111-aaaa" || len(notes) == 0 || !strings.Contains(strings.Join(notes, ";"), "only one per process") {
		t.Fatalf("unset with MIG: %+v %q", devs, notes)
	}
}

func TestVisibleGPUsDeviceOrder(t *testing.T) {
	info := node4(0, 1, 2, 3)
	info.GPUs[2].Name, info.GPUs[2].CCMajor, info.GPUs[2].SMs = "NVIDIA H100", 9, 132 // the fastest, third on the bus
	devs, notes := visibleGPUs(info, "0", true, "FASTEST_FIRST")
	if devs[0].UUID != "GPU-cccccccc" || len(notes) == 0 || !strings.Contains(strings.Join(notes, ";"), "PCI_BUS_ID") {
		t.Fatalf("FASTEST_FIRST: device 0 is %s, notes %q", devs[0].UUID, notes)
	}
	devs, _ = visibleGPUs(info, "0", true, "PCI_BUS_ID")
	if devs[0].UUID != "GPU-aaaaaaaa" {
		t.Fatalf("PCI_BUS_ID: device 0 is %s", devs[0].UUID)
	}
	t.Setenv(DeviceOrderEnv, "")
	if deviceOrder() != "PCI_BUS_ID" {
		t.Errorf("unset CUDA_DEVICE_ORDER: gonbgpu sets PCI_BUS_ID before CUDA starts, got %s", deviceOrder())
	}
	t.Setenv(DeviceOrderEnv, "fastest_first")
	if deviceOrder() != "FASTEST_FIRST" {
		t.Errorf("the user's order must be honoured, got %s", deviceOrder())
	}
}

// fakeNode makes NVML answer info (nil: NVML not loadable) and the device files count files.
func fakeNode(t *testing.T, info *nvmlInfo, files int) {
	t.Helper()
	oldQ, oldF := nvmlQuery, gpuDeviceFiles
	nvmlQuery = func() (*nvmlInfo, error) {
		if info == nil {
			return nil, errors.New("NVML: libnvidia-ml.so.1 not found")
		}
		return info, nil
	}
	gpuDeviceFiles = func() int { return files }
	t.Cleanup(func() { nvmlQuery, gpuDeviceFiles = oldQ, oldF })
}

func TestDetectGPUsUnderSlurmCgroup(t *testing.T) {
	fakeNode(t, node4(2), 1)
	t.Setenv("CUDA_VISIBLE_DEVICES", "0")
	t.Setenv(DeviceOrderEnv, "")
	g := Detect()
	if g.Count != 1 || g.DriverCUDA != 13000 || !strings.Contains(g.How, "CUDA 13.0") {
		t.Fatalf("the job's renumbered GPU must count: %+v", g)
	}
	// The job's GPU is CUDA's device 0 of this process, with its own memory: what CheckFits checks.
	gpus := g.GPUs
	if len(gpus) != 1 || gpus[0].UUID != "GPU-cccccccc" || gpus[0].Index != 0 || gpus[0].Kind != platform.GPU ||
		gpus[0].MemoryFree != 68<<30 {
		t.Fatalf("GPUs: %+v", gpus)
	}
	if err := platform.CheckFits(gpus[0], 69<<30); err == nil {
		t.Errorf("69 GiB must not fit in the job's GPU with 68 GiB free")
	}
	fakeNode(t, nil, 1) // NVML missing: no description, and How says why
	if g := Detect(); len(g.GPUs) != 0 || !strings.Contains(g.How, "NVML not loadable") {
		t.Fatalf("without NVML: %+v", g)
	}
}

// TestNVMLDoesNotVetoCUDA: a GPU NVML cannot open still leaves the device files to count (package gpu then
// tries CUDA when it has a plugin), and CUDA_VISIBLE_DEVICES hiding everything is obeyed.
func TestNVMLDoesNotVetoCUDA(t *testing.T) {
	// NVML sees the node but can open none of its GPUs, while this process can open a device file.
	fakeNode(t, node4(), 1)
	t.Setenv("CUDA_VISIBLE_DEVICES", "0")
	g := Detect()
	if g.Count != 0 || g.DeviceFiles != 1 || g.Hidden {
		t.Fatalf("presence: %+v", g)
	}
	// NVML missing altogether: the device files count.
	fakeNode(t, nil, 2)
	t.Setenv("CUDA_VISIBLE_DEVICES", "1")
	if g = Detect(); g.Count != 1 {
		t.Fatalf("device files with CUDA_VISIBLE_DEVICES=1: %+v", g)
	}
	// CUDA_VISIBLE_DEVICES hiding everything is obeyed.
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	if g = Detect(); !g.Hidden || g.Count != 0 || !strings.Contains(g.How, "hides all GPUs") {
		t.Fatalf("hidden: %+v", g)
	}
}

// TestVisibleDevicesList: CUDA_VISIBLE_DEVICES as CUDA reads it, over devices known by index and UUID.
func TestVisibleDevicesList(t *testing.T) {
	uuids := []string{"GPU-aaaa-1", "GPU-bbbb-2", "GPU-cccc-3", "GPU-dddd-4"}
	devs := make([]cudaCandidate, len(uuids))
	for i, u := range uuids {
		devs[i].gpu = nvmlGPU{Index: i, UUID: u}
	}
	cases := []struct {
		env  string
		set  bool
		want []int
	}{
		{"", false, []int{0, 1, 2, 3}},
		{"0,1", true, []int{0, 1}},
		{"3,1", true, []int{3, 1}},
		{" 2 ", true, []int{2}},
		{"1,7,2", true, []int{1}},    // CUDA stops at the first invalid entry
		{"1,1", true, []int{1}},      // a repeat is invalid too
		{"GPU-cccc", true, []int{2}}, // UUID prefix
		{"GPU-zzzz", true, nil},
		{"-1", true, nil},
	}
	for _, c := range cases {
		var got []int
		for _, d := range applyVisibleDevices(devs, c.env, c.set) {
			got = append(got, d.gpu.Index)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("CUDA_VISIBLE_DEVICES=%q: got %v, want %v", c.env, got, c.want)
		}
	}
}

func TestDetectGPUsHonoursEmptyVisibleDevices(t *testing.T) {
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	if g := Detect(); g.Count != 0 || !strings.Contains(g.How, "hides all GPUs") {
		t.Fatalf("%+v", g)
	}
}
