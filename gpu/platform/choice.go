package platform

import (
	"fmt"

	"github.com/gomlx/compute"
)

// Choice is a GoMLX backend together with what its choice found out: a name for people, why it was
// chosen, and the devices it computes on. Package gpu's New and Default return one; vision/recipe,
// vision/trainer and the benchmarks are handed one, and a training history records its Name and Reason,
// so a run says where it really ran.
type Choice struct {
	// Backend is the GoMLX backend graphs are built and run on.
	Backend compute.Backend

	// Name is the short name shown to people: "go", "xla:cuda", "xla:cpu", …
	Name string

	// Config is the GoMLX configuration the backend was created with (compute.NewWithConfig): "go",
	// "xla:cpu", "xla:/…/pjrt_c_api_cuda_plugin.so" for a CUDA plugin found; "" when not known (see [Of]).
	Config string

	// Reason says, in one sentence, why this backend was chosen; "" for a backend gonbgpu did not choose
	// (see [Of]).
	Reason string

	// Warning, when set, says that a GPU is there but the CPU was chosen (no usable plugin, or CUDA
	// failed to start), why, and what to do.
	Warning string

	// Plugin describes, in one line, the CUDA PJRT plugin used or found but unused; "" when none.
	Plugin string

	// CPUPlugin describes, in one line, XLA's CPU plugin when the backend runs on it ("PATH (package
	// version), PJRT C API 0.106, 4 CPU devices"), or says why it is not used when it was looked for;
	// "" when it was not looked for (a GPU was chosen, or GOMLX_BACKEND named another backend).
	CPUPlugin string

	// Job is the batch job this process runs in, as the edge read it (see [Job]); the zero Job outside
	// one, and for a choice made by [Of].
	Job Job

	// machine lists, when asked, this machine's GPUs that the process can use and then the host CPU, with
	// their memory now (package gpu passes its NVML listing, see [On]); nil: the backend's own descriptions
	// and the host. A function, not a list, so that [Choice.ComputeDevices] says how much memory is free
	// when it is asked, not when the backend was chosen: a cell may have filled the GPU since.
	machine func() []Device
}

// Of describes a backend made by other means than package gpu (a test's, compute.MustNew()'s): its name
// is the backend's own ("go", "xla"), there is no reason, and its devices are what the backend says of them, then the
// host.
func Of(b compute.Backend) *Choice {
	c := On(b, nil)
	c.Name = b.String()
	return c
}

// On is a Choice of b, with no name or reason yet, whose compute devices are described from machine: this
// machine's GPUs that the process can use, numbered as CUDA numbers them here, then the host CPU (package
// gpu lists them through NVML, which this package cannot load). machine is called each time the devices
// are asked for, so memory figures are current; nil describes them as the backend does.
func On(b compute.Backend, machine func() []Device) *Choice {
	return &Choice{Backend: b, machine: machine}
}

// PureGo reports whether the backend is GoMLX's pure-Go one (see [IsPureGo]).
func (c *Choice) PureGo() bool { return IsPureGo(c.Backend) }

// DeviceDescription describes the device computations land on in a few words: "host CPU, 2 cores" for
// the pure-Go backend, the backend's description of its device 0 otherwise.
func (c *Choice) DeviceDescription() string {
	if c.PureGo() {
		return fmt.Sprintf("host CPU, %d cores", HostCores())
	}
	if c.Backend.NumDevices() == 0 {
		return c.Backend.Description()
	}
	return c.Backend.DeviceDescription(0)
}

// Machine names, in one line, what a figure or a table was made on: the backend, its devices and the
// processor behind them, e.g. "xla:cuda, 4 × NVIDIA H100 80GB HBM3", "go (pure Go), one device: 2 cores of
// Intel(R) Xeon(R) Processor", "xla:cpu, 4 CPU devices sharing 2 cores, Intel(R) Xeon(R) Processor". A
// chapter puts it under a figure's title, so that a figure read apart from its notebook still says where
// its numbers come from.
func (c *Choice) Machine() string {
	name := c.Name
	if name == "" {
		name = c.Backend.String()
	}
	switch {
	case c.PureGo():
		return fmt.Sprintf("%s (pure Go), one device: %d cores of %s", name, HostCores(), Host().Name)
	case IsCUDA(c.Backend):
		return fmt.Sprintf("%s, %d × %s", name, c.Backend.NumDevices(), c.DeviceDescription())
	default:
		return fmt.Sprintf("%s, %d CPU devices sharing %d cores, %s", name, c.Backend.NumDevices(), HostCores(), Host().Name)
	}
}

// ComputeDevices lists the devices this backend computes on, with their memory now: the backend's GPUs
// for XLA on CUDA (all of them, device 0 first), the host CPU for the pure-Go backend and XLA on the CPU.
// It is the one list of "where my tensors live" (torch.cuda's devices); the table of the whole machine is
// package gpu's MachineDevices. A GPU the machine's description lacks (NVML and the backend disagree) is
// described by the backend, with unknown memory: never the host's RAM.
func (c *Choice) ComputeDevices() []Device {
	var machine []Device
	if c.machine != nil {
		machine = c.machine()
	}
	if !IsCUDA(c.Backend) {
		for _, d := range machine {
			if d.Kind == CPU && d.Source == "host" {
				return []Device{d}
			}
		}
		return []Device{Host()}
	}
	var out []Device
	for i := range c.Backend.NumDevices() {
		d := Device{Index: i, Kind: GPU, Name: c.Backend.DeviceDescription(compute.DeviceNum(i)), Source: "pjrt",
			Detail: c.Backend.Description()}
		for _, known := range machine {
			if known.Kind == GPU && known.Index == i {
				d = known
				break
			}
		}
		out = append(out, d)
	}
	return out
}

// ComputeDevice is the device a computation on device 0 runs on (see [Choice.ComputeDevices]).
func (c *Choice) ComputeDevice() Device { return c.ComputeDevices()[0] }

// ExplainOutOfMemory wraps an out-of-memory error from a computation with what a person can do about it:
// the device's memory, and the usual remedies. Other errors are returned as they are.
func (c *Choice) ExplainOutOfMemory(err error, what string) error {
	if !isOutOfMemory(err) {
		return err
	}
	dev := "the device"
	if d := c.ComputeDevice(); d.MemoryTotal > 0 {
		dev = fmt.Sprintf("device %d (%s, %s free of %s)", d.Index, d.Name, FormatBytes(d.MemoryFree), FormatBytes(d.MemoryTotal))
	}
	return fmt.Errorf("gonbgpu: out of memory on %s while %s: use a smaller batch or a narrower model, "+
		"or more GPUs; the device said: %w", dev, what, err)
}

// IsPureGo reports whether b is GoMLX's pure-Go backend, which runs on the host CPU, on one device, and
// has no fused training kernels: models pick CPU-friendly formulations on it (see vision/conv).
//
// (It compares String, not Name: the pure-Go backend's Name is "Go Backend", its String the "go" of
// GOMLX_BACKEND.)
func IsPureGo(b compute.Backend) bool { return b != nil && b.String() == "go" }

// IsCUDA reports whether b is an XLA backend whose devices are NVIDIA GPUs.
//
// It asks the backend (go-xla's IsCUDA), never the words of its description: a plugin's path is part of
// that, and a CPU plugin in ~/gonbgpu/.venv would read as "gpu". go-xla knows a plugin by the name it was
// loaded under, and gonbgpu controls those names: XLA's CPU plugin is registered as "cpu" once a check
// has asked its PJRT platform (package internal/xlacpu), and a CUDA plugin is loaded as
// …/pjrt_c_api_cuda_plugin.so (package gpu/plugin).
func IsCUDA(b compute.Backend) bool {
	if b == nil || IsPureGo(b) || b.NumDevices() == 0 {
		return false
	}
	x, ok := b.(interface{ IsCUDA() bool })
	return ok && x.IsCUDA()
}

// IsXLACPU reports whether b is an XLA backend on the host CPU (XLA's CPU plugin).
func IsXLACPU(b compute.Backend) bool {
	if b == nil || IsPureGo(b) {
		return false
	}
	x, ok := b.(interface{ IsCPU() bool })
	return ok && x.IsCPU() && !IsCUDA(b)
}
