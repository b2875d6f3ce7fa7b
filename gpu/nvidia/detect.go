// Package nvidia finds the NVIDIA GPUs this process can use, numbered as CUDA numbers them here.
//
// NVML (through internal/nvml, loaded at run time: nothing is needed to build) describes the node; this
// package applies what decides CUDA's view of it: the device files a cgroup lets this process open (SLURM's
// ConstrainDevices renumbers a job's GPUs from 0), CUDA_DEVICE_ORDER, CUDA_VISIBLE_DEVICES (indices, GPU
// and MIG UUIDs) and CUDA's one-MIG-device-per-process rule. [Detect] says whether there is a GPU to use
// (package gpu chooses the backend with it) and describes them, with their free memory at that moment.
package nvidia

import (
	"fmt"
	"os"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// Presence says whether NVIDIA GPUs are visible to this process, and how that was decided.
type Presence struct {
	Count int    // number of GPUs this process can use
	How   string // e.g. "NVML sees 4 GPU(s) …, CUDA_VISIBLE_DEVICES=0,1" or "no /dev/nvidia* device files"

	// DeviceFiles counts the /dev/nvidia<N> files this process may open: with a CUDA plugin they are
	// reason enough to try CUDA even when NVML counts no GPU (NVML must not veto CUDA).
	DeviceFiles int

	// Hidden is true when CUDA_VISIBLE_DEVICES hides every GPU (empty, or -1): then CUDA is not tried.
	Hidden bool

	// DriverCUDA is the newest CUDA version the driver runs (NVML's nvmlSystemGetCudaDriverVersion,
	// 1000×major+10×minor), 0 when unknown.
	DriverCUDA int

	// CC is the lowest CUDA compute capability among the GPUs this process can use, 10×major+minor (70
	// for a V100), and GPUName that GPU's model; 0 and "" when NVML does not say. A plugin must run on
	// every GPU it is given, so the oldest one decides (see [Presence.PluginCUDA]).
	CC      int
	GPUName string

	// GPUs describes, through NVML, the GPUs this process can use, in CUDA's numbering, with their free
	// memory when Detect asked; nil when NVML could not be asked (How says why). Package gpu's
	// MachineDevices, the machine's device table, is made from it.
	GPUs []platform.Device
}

// Detect says how many NVIDIA GPUs this process can use, without creating any backend.
func Detect() Presence {
	cvd, cvdSet := os.LookupEnv("CUDA_VISIBLE_DEVICES")
	if cvdSet && (strings.TrimSpace(cvd) == "" || strings.TrimSpace(cvd) == "-1") {
		return Presence{Count: 0, How: fmt.Sprintf("CUDA_VISIBLE_DEVICES=%q hides all GPUs", cvd), Hidden: true}
	}
	files := gpuDeviceFiles()
	info, err := nvmlQuery()
	if err == nil {
		devs, notes := visibleCandidates(info, cvd, cvdSet, deviceOrder())
		gpus, _ := visibleGPUs(info, cvd, cvdSet, deviceOrder())
		how := fmt.Sprintf("NVML sees %d GPU(s) this process can use", len(devs))
		if info.Driver != "" {
			how += ", driver " + info.Driver
		}
		if s := info.cudaString(); s != "" {
			how += " (" + s + ")"
		}
		if cvdSet {
			how += ", CUDA_VISIBLE_DEVICES=" + cvd
		}
		for _, n := range notes {
			how += "; " + n
		}
		p := Presence{Count: len(devs), How: how, DeviceFiles: files, DriverCUDA: info.CUDA, GPUs: gpus}
		for _, d := range devs {
			if cc := d.gpu.CCMajor*10 + d.gpu.CCMinor; cc > 0 && (p.CC == 0 || cc < p.CC) {
				p.CC, p.GPUName = cc, d.gpu.Name
			}
		}
		if p.CC > 0 {
			p.How += fmt.Sprintf(", compute capability %d.%d (%s)", p.CC/10, p.CC%10, p.GPUName)
		}
		return p
	}
	if files == 0 {
		return Presence{Count: 0, How: "NVML not loadable (" + err.Error() + ") and no /dev/nvidia* device files this process can open"}
	}
	// Without NVML, the device files are the GPUs, in their order: CUDA_VISIBLE_DEVICES picks among them.
	n := len(applyVisibleDevices(make([]cudaCandidate, files), cvd, cvdSet))
	return Presence{Count: n, DeviceFiles: files,
		How: fmt.Sprintf("%d /dev/nvidia* device file(s); NVML not loadable (%v)", n, err)}
}
