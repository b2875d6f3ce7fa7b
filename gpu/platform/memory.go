package platform

import (
	"errors"
	"fmt"
	"strings"
)

// MemoryError says that a request for device memory cannot be met. [CheckFits] returns it; use errors.As
// to get at the numbers.
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
		orZero(uint64(max(e.Need, 0))), e.Device.Index, name, orZero(e.Device.MemoryFree), FormatBytes(e.Device.MemoryTotal))
}

// orZero formats a byte count that is a figure, not an unknown: 0 prints as "0 B".
func orZero(n uint64) string {
	if n == 0 {
		return "0 B"
	}
	return FormatBytes(n)
}

// CheckFits reports whether need bytes fit in d's free memory: nil if they do, or if d's memory is not
// known (MemoryTotal and MemoryFree both 0, as for a GPU described only by PJRT), and a *[MemoryError]
// otherwise. A negative need is an error too (usually an overflowed size computation).
//
// It is a check at one moment, not a reservation: memory freed or taken later is not accounted for.
func CheckFits(d Device, need int64) error {
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

// isOutOfMemory reports whether err is a device running out of memory, as XLA (RESOURCE_EXHAUSTED, "Out
// of memory while trying to allocate …") or CUDA report it, or a [MemoryError].
func isOutOfMemory(err error) bool {
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
