package gpu

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
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

// CUDAString formats the driver's CUDA version, e.g. "CUDA 12.4", or "" when unknown.
func (n *nvmlInfo) CUDAString() string {
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
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("NVML: %s", nvml.ErrorString(ret))
	}
	defer nvml.Shutdown()
	count, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("NVML device count: %s", nvml.ErrorString(ret))
	}
	info := &nvmlInfo{}
	info.Driver, _ = nvml.SystemGetDriverVersion()
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		info.CUDA = v
	}
	for i := range count {
		g := nvmlGPU{Index: i, Minor: -1}
		h, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			g.Err = fmt.Errorf("NVML cannot open GPU %d: %s", i, nvml.ErrorString(ret))
			info.GPUs = append(info.GPUs, g)
			continue
		}
		readNVMLDevice(h, &g)
		if m, ret := h.GetMinorNumber(); ret == nvml.SUCCESS {
			g.Minor = m
			if path := fmt.Sprintf("/dev/nvidia%d", m); !deviceFileOpenable(path) && g.Err == nil {
				g.Err = fmt.Errorf("%s cannot be opened by this process (a cgroup device limit?)", path)
			}
		}
		if pci, ret := h.GetPciInfo(); ret == nvml.SUCCESS {
			g.BusID = cString(pci.BusId[:])
		}
		if major, minor, ret := h.GetCudaComputeCapability(); ret == nvml.SUCCESS {
			g.CCMajor, g.CCMinor = major, minor
		}
		if cur, _, ret := h.GetMigMode(); ret == nvml.SUCCESS && cur == nvml.DEVICE_MIG_ENABLE {
			g.MIGEnabled = true
			maxMIG, _ := h.GetMaxMigDeviceCount()
			for j := range maxMIG {
				mh, ret := h.GetMigDeviceHandleByIndex(j)
				if ret != nvml.SUCCESS {
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
	var ret nvml.Return
	if g.UUID, ret = h.GetUUID(); ret == nvml.ERROR_NO_PERMISSION {
		g.Err = fmt.Errorf("NVML: no permission to query GPU %d", g.Index)
	}
	g.Name, _ = h.GetName()
	if mem, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryTotal, g.MemoryFree = mem.Total, mem.Free
	} else if ret == nvml.ERROR_NO_PERMISSION && g.Err == nil {
		g.Err = fmt.Errorf("NVML: no permission to query GPU %d's memory", g.Index)
	}
	if attr, ret := h.GetAttributes(); ret == nvml.SUCCESS {
		g.SMs = int(attr.MultiprocessorCount)
	}
}

// cString converts a NUL-terminated C char array.
func cString(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}
