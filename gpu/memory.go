package gpu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomlx/compute"
)

// MemoryError says that a request for device memory cannot be met. [CheckFits] and [CheckFitsOn]
// return it; use errors.As to get at the numbers.
type MemoryError struct {
	Need   int64  // bytes asked for
	Device Device // the device that was checked, with its free and total memory
}

func (e *MemoryError) Error() string {
	name := e.Device.Name
	if e.Device.Kind == CPU {
		name = "host CPU"
	}
	return fmt.Sprintf("gonbgpu: not enough memory: needs %s but device %d (%s) has %s free (%s total)",
		formatNeed(e.Need), e.Device.Index, name, formatFree(e.Device.MemoryFree), FormatBytes(e.Device.MemoryTotal))
}

func formatNeed(n int64) string {
	if n <= 0 {
		return "0 B"
	}
	return FormatBytes(uint64(n))
}

func formatFree(n uint64) string {
	if n == 0 {
		return "0 B"
	}
	return FormatBytes(n)
}

// CheckFitsOn reports whether need bytes fit in d's free memory: nil if they do, or if d's memory is not
// known (MemoryTotal and MemoryFree both 0, as for a GPU described only by PJRT), and a *[MemoryError]
// otherwise. A negative need is an error too (usually an overflowed size computation).
func CheckFitsOn(d Device, need int64) error {
	if need < 0 {
		return fmt.Errorf("gonbgpu: a memory request of %d bytes is negative (did a size computation overflow?)", need)
	}
	if d.MemoryTotal == 0 && d.MemoryFree == 0 {
		return nil
	}
	if uint64(need) > d.MemoryFree {
		return &MemoryError{Need: need, Device: d}
	}
	return nil
}

// CheckFits reports whether need bytes fit in the free memory of the device that [Backend] computes on,
// before a cell allocates a big tensor: for XLA on CUDA that is GPU 0 (live free memory from NVML), for
// the pure-Go backend (and XLA on the CPU) the host's available RAM, within a cgroup limit when one
// applies. It creates the backend if no code has yet. For example, with shapes from gomlx's compute:
//
//	if err := gpu.CheckFits(shapes.Make(dtypes.Float32, 1<<19, 1<<19).ByteSize()); err != nil {
//		kernel.ShowError(err) // gonbgpu: not enough memory: needs 1.0 TiB but device 0 (host CPU) has …
//		return
//	}
//
// It is a check at one moment, not a reservation: memory freed or taken later is not accounted for.
func CheckFits(need int64) error {
	b, err := NewBackend()
	if err != nil {
		return err
	}
	return CheckFitsOn(computeDevice(b), need)
}

// computeDevice is the device a backend's first device computation lands on, as [Devices] describes it:
// CUDA's device 0 of this process (NVML's description of that GPU, found through the mapping of
// [visibleGPUs], so under SLURM it is the job's GPU, not the node's first), or the host for the pure-Go
// backend and XLA on the CPU. A CUDA backend whose GPU NVML cannot describe gets PJRT's description, with
// unknown memory: never the host's RAM.
func computeDevice(b compute.Backend) Device {
	if !isCUDABackend(b) {
		return HostDevice()
	}
	for _, d := range Devices(b) {
		if d.Kind == GPU && d.Index == 0 {
			return d
		}
	}
	return Device{Index: 0, Kind: GPU, Name: b.DeviceDescription(0), Source: "pjrt", Detail: b.Description()}
}

// IsOutOfMemory reports whether err is a device running out of memory, as XLA (RESOURCE_EXHAUSTED, "Out
// of memory while trying to allocate …") or CUDA report it, or a [MemoryError].
func IsOutOfMemory(err error) bool {
	if err == nil {
		return false
	}
	var me *MemoryError
	if errors.As(err, &me) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"resource_exhausted", "out of memory", "cuda_error_out_of_memory", "failed to allocate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ExplainOutOfMemory wraps an out-of-memory error from a computation with what a person can do about it:
// the device's memory, and the usual remedies. Other errors are returned as they are.
func ExplainOutOfMemory(err error, what string) error {
	if !IsOutOfMemory(err) {
		return err
	}
	dev := "the device"
	if b, e := NewBackend(); e == nil {
		d := computeDevice(b)
		if d.MemoryTotal > 0 {
			dev = fmt.Sprintf("device %d (%s, %s free of %s)", d.Index, d.Name, FormatBytes(d.MemoryFree), FormatBytes(d.MemoryTotal))
		}
	}
	return fmt.Errorf("gonbgpu: out of memory on %s while %s: use a smaller batch (--batch) or model (--width), "+
		"or more GPUs; the device said: %w", dev, what, err)
}
