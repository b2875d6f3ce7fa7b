package gpu

import (
	"sync"

	"github.com/gomlx/compute"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// MachineDevices lists this machine's GPUs that the process can use, and then the host CPU, as they are
// now: the device table (`gonbgpu devices`, [ShowDevices]) shows the hardware, whatever the backend. For
// the devices a backend computes on, ask its Choice: [platform.Choice.ComputeDevices].
//
// GPUs come from NVML when libnvidia-ml.so.1 loads (with live free memory), numbered as CUDA numbers them
// in this process (see package gpu/nvidia). When b is an XLA backend on CUDA and NVML is missing or
// disagrees with it about how many GPUs there are, the backend's own descriptions are listed instead: the
// backend is what computes. b may be nil.
func MachineDevices(b compute.Backend) []platform.Device {
	gpus := detectGPUs().GPUs
	if platform.IsCUDA(b) && len(gpus) != b.NumDevices() {
		gpus = platform.Of(b).ComputeDevices() // the backend's descriptions, memory unknown
	}
	return append(gpus, platform.Host())
}

// choiceOn is the Choice of b whose compute devices are described from [MachineDevices], live.
func choiceOn(b compute.Backend) *platform.Choice {
	return platform.On(b, func() []platform.Device { return MachineDevices(b) })
}

// CheckFits reports whether need bytes fit, now, in the free memory of the device that [Default]'s
// backend computes on, before a cell allocates a big tensor: for XLA on CUDA that is this process's GPU 0
// (live free memory from NVML; under SLURM the job's GPU, not the node's first), for the pure-Go backend
// (and XLA on the CPU) the host's available RAM, within a cgroup limit when one applies. It creates the
// backend if no code has yet. For example, with shapes from gomlx's compute:
//
//	if err := gpu.CheckFits(shapes.Make(dtypes.Float32, 1<<19, 1<<19).ByteSize()); err != nil {
//		kernel.ShowError(err) // gonbgpu: not enough memory: needs 1.0 TiB but device 0 (host CPU) has …
//		return
//	}
//
// See platform.CheckFits for a device of your own choosing.
func CheckFits(need int64) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return platform.CheckFits(c.ComputeDevice(), need)
}

var (
	cpuOnce    sync.Once
	cpuBackend compute.Backend
	cpuErr     error
)

// CPUBackend returns GoMLX's pure-Go backend, to compare the accelerator with the CPU in the same
// process: [Default]'s backend itself when it already is the pure-Go one, else a second backend.
func CPUBackend() (compute.Backend, error) {
	if c, err := Default(); err == nil && c.PureGo() {
		return c.Backend, nil
	}
	cpuOnce.Do(func() {
		cpuBackend, cpuErr = newWithConfig("go")
	})
	return cpuBackend, cpuErr
}
