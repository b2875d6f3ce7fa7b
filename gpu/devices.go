package gpu

import (
	"sync"

	"github.com/gomlx/compute"

	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// nvidiaGPUs describes this process's GPUs through NVML; a variable for tests.
var nvidiaGPUs = nvidia.GPUs

// Devices lists, as they are now, the GPUs visible to this process and then the host CPU.
//
// GPUs come from NVML when libnvidia-ml.so.1 loads (with live free memory), numbered as CUDA numbers them
// in this process (see package gpu/nvidia), whatever the backend: the device table shows the hardware.
// When b is an XLA backend on CUDA and NVML is missing or disagrees with it about how many GPUs there
// are, the backend's own descriptions are listed instead: the backend is what computes. b may be nil.
func Devices(b compute.Backend) []platform.Device {
	gpus, err := nvidiaGPUs()
	if platform.IsCUDA(b) && (err != nil || len(gpus) != b.NumDevices()) {
		gpus = platform.BackendDevices(b)
	}
	return append(gpus, platform.Host())
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
	now := *c
	now.Devices = Devices(c.Backend)
	return platform.CheckFits(now.ComputeDevice(), need)
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
