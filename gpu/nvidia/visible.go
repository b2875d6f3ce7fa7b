package nvidia

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// Which GPUs CUDA gives this process, and how CUDA numbers them, worked out from NVML's view of the node.
//
// NVML counts every GPU of the node (nvmlDeviceGetCount_v2), in PCI bus order. CUDA enumerates only the GPUs
// the process can open, orders them by CUDA_DEVICE_ORDER (FASTEST_FIRST by default, PCI_BUS_ID on request),
// and then applies CUDA_VISIBLE_DEVICES, whose indices count CUDA's list, not NVML's. Under SLURM with
// cgroup device limits (ConstrainDevices=yes) the job sees its GPUs renumbered from 0 while NVML still counts
// the whole node: CUDA_VISIBLE_DEVICES=0 is then the job's GPU, which may be NVML's GPU 3. So indices are
// applied to the GPUs this process can open, in CUDA's order; UUIDs (GPU-…, MIG-…) are matched by UUID.

// DeviceOrderEnv is CUDA's variable choosing how it numbers GPUs: FASTEST_FIRST (its default) or
// PCI_BUS_ID. gonbgpu sets PCI_BUS_ID before CUDA starts when it is unset (see package gpu): that is the order
// NVML and SLURM use, so "GPU 0" means the same GPU to all three.
const DeviceOrderEnv = "CUDA_DEVICE_ORDER"

// deviceOrder returns the order CUDA uses in this process: the variable's value, or PCI_BUS_ID when unset,
// since gonbgpu sets it so before any CUDA backend is created.
func deviceOrder() string {
	if v := strings.ToUpper(strings.TrimSpace(os.Getenv(DeviceOrderEnv))); v != "" {
		return v
	}
	return "PCI_BUS_ID"
}

// cudaCandidate is one device CUDA could enumerate: a whole GPU, or a MIG device of one.
type cudaCandidate struct {
	gpu    nvmlGPU // the device (the MIG device itself for MIG)
	parent *nvmlGPU
}

// busID is the PCI bus id of the device, or of its GPU for a MIG device.
func (c cudaCandidate) busID() string {
	if c.parent != nil {
		return c.parent.BusID
	}
	return c.gpu.BusID
}

func (c cudaCandidate) physical() int {
	if c.parent != nil {
		return c.parent.Index
	}
	return c.gpu.Index
}

// visibleGPUs maps NVML's node onto the devices CUDA gives this process, in CUDA's numbering (Device.Index).
// cvd and cvdSet are CUDA_VISIBLE_DEVICES; order is CUDA_DEVICE_ORDER's effective value. notes say what a
// person should know about the mapping (GPUs the process cannot open, a guessed order).
func visibleGPUs(info *nvmlInfo, cvd string, cvdSet bool, order string) (devs []platform.Device, notes []string) {
	chosen, notes := visibleCandidates(info, cvd, cvdSet, order)
	for cudaIdx, c := range chosen {
		d := platform.Device{Index: cudaIdx, Kind: platform.GPU, Source: "nvml", UUID: c.gpu.UUID, Name: c.gpu.Name,
			MemoryTotal: c.gpu.MemoryTotal, MemoryFree: c.gpu.MemoryFree}
		var detail []string
		if info.Driver != "" {
			detail = append(detail, "driver "+info.Driver)
		}
		if s := info.cudaString(); s != "" {
			detail = append(detail, s)
		}
		if c.parent != nil {
			detail = append(detail, fmt.Sprintf("MIG device of physical GPU %d", c.parent.Index))
		} else if c.physical() != cudaIdx {
			detail = append(detail, fmt.Sprintf("physical GPU %d", c.physical()))
		}
		d.Detail = strings.Join(detail, ", ")
		devs = append(devs, d)
	}
	return devs, notes
}

// visibleCandidates is visibleGPUs's choice of devices, in CUDA's order, with its notes.
func visibleCandidates(info *nvmlInfo, cvd string, cvdSet bool, order string) (chosen []cudaCandidate, notes []string) {
	var openable []cudaCandidate
	var closed []string
	for i := range info.GPUs {
		g := &info.GPUs[i]
		if g.Err != nil {
			closed = append(closed, strconv.Itoa(g.Index))
			continue
		}
		if g.MIGEnabled {
			for _, m := range g.MIG {
				if m.Err == nil {
					openable = append(openable, cudaCandidate{gpu: m, parent: g})
				}
			}
			continue
		}
		openable = append(openable, cudaCandidate{gpu: *g})
	}
	if len(closed) > 0 {
		notes = append(notes, fmt.Sprintf("NVML counts %d GPU(s) on the node; this process cannot open GPU(s) %s (not this job's)",
			len(info.GPUs), strings.Join(closed, ",")))
	}
	if order != "PCI_BUS_ID" && fastestFirstDiffers(openable) {
		notes = append(notes, fmt.Sprintf("%s=%s with different GPU models: CUDA's numbering is guessed (set %s=PCI_BUS_ID for a sure one)",
			DeviceOrderEnv, order, DeviceOrderEnv))
	}
	sortCandidates(openable, order)

	chosen = applyVisibleDevices(openable, cvd, cvdSet)
	if n := countMIG(chosen); n > 1 {
		// CUDA enumerates a single MIG device per process (NVIDIA's MIG user guide).
		first := slices.IndexFunc(chosen, func(c cudaCandidate) bool { return c.parent != nil })
		kept := chosen[:0]
		for i, c := range chosen {
			if c.parent == nil || i == first {
				kept = append(kept, c)
			}
		}
		chosen = kept
		notes = append(notes, fmt.Sprintf("%d MIG devices are visible but CUDA uses only one per process", n))
	}
	return chosen, notes
}

// applyVisibleDevices applies CUDA_VISIBLE_DEVICES to CUDA's list of openable devices. Like CUDA, it stops
// at the first entry that is invalid (or repeated). Indices count the openable list; UUIDs and their
// prefixes match a GPU's UUID or a MIG device's, and "MIG-GPU-<parent UUID>/…" (the pre-R470 MIG form)
// matches the first MIG device of that GPU.
func applyVisibleDevices(openable []cudaCandidate, cvd string, cvdSet bool) []cudaCandidate {
	if !cvdSet {
		return openable
	}
	var out []cudaCandidate
	seen := map[string]bool{}
	for _, tok := range strings.Split(cvd, ",") {
		tok = strings.TrimSpace(tok)
		idx := -1
		if n, err := strconv.Atoi(tok); err == nil {
			if n >= 0 && n < len(openable) {
				idx = n
			}
		} else if legacy, ok := strings.CutPrefix(tok, "MIG-GPU-"); ok {
			parent, _, _ := strings.Cut(legacy, "/")
			idx = slices.IndexFunc(openable, func(c cudaCandidate) bool {
				return c.parent != nil && strings.HasPrefix(c.parent.UUID, "GPU-"+parent)
			})
		} else if strings.HasPrefix(tok, "GPU-") || strings.HasPrefix(tok, "MIG-") {
			// A MIG device's own UUID first; a GPU's UUID only names the GPU itself (in MIG mode CUDA
			// does not enumerate the parent).
			idx = slices.IndexFunc(openable, func(c cudaCandidate) bool {
				return c.gpu.UUID != "" && strings.HasPrefix(c.gpu.UUID, tok)
			})
		}
		if idx < 0 {
			break
		}
		key := strconv.Itoa(idx)
		if seen[key] {
			break
		}
		seen[key] = true
		out = append(out, openable[idx])
	}
	return out
}

// sortCandidates puts devices in CUDA's order: by PCI bus id, or for FASTEST_FIRST by compute capability
// and multiprocessor count first (CUDA's heuristic is unspecified beyond "fastest first"; between equal
// GPUs it keeps PCI order).
func sortCandidates(cs []cudaCandidate, order string) {
	slices.SortStableFunc(cs, func(a, b cudaCandidate) int {
		if order != "PCI_BUS_ID" {
			if d := (b.gpu.CCMajor*10 + b.gpu.CCMinor) - (a.gpu.CCMajor*10 + a.gpu.CCMinor); d != 0 {
				return d
			}
			if d := b.gpu.SMs - a.gpu.SMs; d != 0 {
				return d
			}
		}
		if c := strings.Compare(strings.ToLower(a.busID()), strings.ToLower(b.busID())); c != 0 {
			return c
		}
		if d := a.physical() - b.physical(); d != 0 {
			return d
		}
		return a.gpu.Index - b.gpu.Index // MIG devices of one GPU
	})
}

func fastestFirstDiffers(cs []cudaCandidate) bool {
	for _, c := range cs[min(1, len(cs)):] {
		if c.gpu.CCMajor != cs[0].gpu.CCMajor || c.gpu.CCMinor != cs[0].gpu.CCMinor || c.gpu.SMs != cs[0].gpu.SMs {
			return true
		}
	}
	return false
}

func countMIG(cs []cudaCandidate) int {
	n := 0
	for _, c := range cs {
		if c.parent != nil {
			n++
		}
	}
	return n
}

// gpuDeviceFiles counts the GPU device files (/dev/nvidia0, /dev/nvidia1, …) this process may open.
// A variable for tests.
var gpuDeviceFiles = func() int {
	nodes, _ := filepath.Glob("/dev/nvidia[0-9]*")
	n := 0
	for _, p := range nodes {
		if deviceFileOpenable(p) {
			n++
		}
	}
	return n
}
