package nvidia

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/gonbgpu/gonbgpu/internal/nvml"
)

// What NVML says about the node, gathered in one pass so that the rules built on it (which GPUs this
// process can open, in which order CUDA numbers them, which plugin the driver can run) are plain functions
// of data that tests can write by hand: [nvmlQuery] is the seam.

// nvmlGPU is one GPU as NVML enumerates it, or one MIG device of a GPU.
type nvmlGPU struct {
	Index int // NVML's index (physical GPUs: PCI bus order, every GPU of the node); MIG: its index in the parent

	// Err says why this process cannot use the GPU: no handle (NVML_ERROR_NO_PERMISSION when a cgroup
	// hides it, as SLURM's ConstrainDevices does), or its device file cannot be opened. Nil: usable.
	Err error

	UUID, Name string
	BusID      string // PCI bus id, "00000000:3B:00.0"
	Minor      int    // /dev/nvidia<Minor>; -1 when unknown

	MemoryTotal, MemoryFree uint64

	CCMajor, CCMinor int // CUDA compute capability
	SMs              int // multiprocessors

	MIGEnabled bool
	MIG        []nvmlGPU // the MIG devices, when MIGEnabled
}

// nvmlInfo is the node as NVML sees it.
type nvmlInfo struct {
	Driver string    // e.g. "580.65.06"
	CUDA   int       // nvmlSystemGetCudaDriverVersion: the newest CUDA the driver runs, 1000×major+10×minor; 0 unknown
	GPUs   []nvmlGPU // every GPU NVML counts, usable or not, in NVML's order
}

// cudaString formats the driver's CUDA version, e.g. "CUDA 12.4", or "" when unknown.
func (n *nvmlInfo) cudaString() string {
	if n == nil || n.CUDA <= 0 {
		return ""
	}
	return fmt.Sprintf("CUDA %d.%d", n.CUDA/1000, (n.CUDA%1000)/10)
}

// nvmlQuery asks NVML about the node. Tests replace it with a function returning a made-up node.
var nvmlQuery = queryNVML

// deviceFileOpenable reports whether this process may open a GPU's device file: false only when the file
// exists and opening it is refused (a cgroup device rule answers EPERM). A missing file, or any other
// answer, is not held against the GPU. A variable for tests.
var deviceFileOpenable = func(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return true
	}
	return !(errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES))
}

// queryNVML loads libnvidia-ml.so.1 and reads every GPU of the node, its MIG devices included.
func queryNVML() (*nvmlInfo, error) {
	if err := nvml.Init(); err != nil {
		return nil, err
	}
	defer nvml.Shutdown()
	count, err := nvml.DeviceCount()
	if err != nil {
		return nil, err
	}
	info := &nvmlInfo{}
	info.Driver, _ = nvml.DriverVersion()
	if v, err := nvml.CUDADriverVersion(); err == nil {
		info.CUDA = v
	}
	for i := range count {
		g := nvmlGPU{Index: i, Minor: -1}
		h, err := nvml.DeviceByIndex(i)
		if err != nil {
			g.Err = fmt.Errorf("NVML cannot open GPU %d: %w", i, err)
			info.GPUs = append(info.GPUs, g)
			continue
		}
		readNVMLDevice(h, &g)
		if m, err := h.MinorNumber(); err == nil {
			g.Minor = m
			if path := fmt.Sprintf("/dev/nvidia%d", m); !deviceFileOpenable(path) && g.Err == nil {
				g.Err = fmt.Errorf("%s cannot be opened by this process (a cgroup device limit?)", path)
			}
		}
		g.BusID, _ = h.BusID()
		if major, minor, err := h.ComputeCapability(); err == nil {
			g.CCMajor, g.CCMinor = major, minor
		}
		if on, err := h.MIGEnabled(); err == nil && on {
			g.MIGEnabled = true
			maxMIG, _ := h.MaxMIGDevices()
			for j := range maxMIG {
				mh, err := h.MIGDevice(j)
				if err != nil {
					continue // not every slot holds a MIG device
				}
				m := nvmlGPU{Index: j, Minor: -1, BusID: g.BusID, CCMajor: g.CCMajor, CCMinor: g.CCMinor}
				readNVMLDevice(mh, &m)
				g.MIG = append(g.MIG, m)
			}
		}
		info.GPUs = append(info.GPUs, g)
	}
	return info, nil
}

// readNVMLDevice fills the fields every device (GPU or MIG device) answers.
func readNVMLDevice(h nvml.Device, g *nvmlGPU) {
	var err error
	if g.UUID, err = h.UUID(); nvml.IsNoPermission(err) {
		g.Err = fmt.Errorf("NVML: no permission to query GPU %d", g.Index)
	}
	g.Name, _ = h.Name()
	if total, free, err := h.Memory(); err == nil {
		g.MemoryTotal, g.MemoryFree = total, free
	} else if nvml.IsNoPermission(err) && g.Err == nil {
		g.Err = fmt.Errorf("NVML: no permission to query GPU %d's memory", g.Index)
	}
	if n, err := h.Multiprocessors(); err == nil {
		g.SMs = n
	}
}
