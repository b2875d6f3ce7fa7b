package platform

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
)

// Kind of a device.
type Kind string

const (
	GPU Kind = "GPU"
	CPU Kind = "CPU"
)

// Device describes one device a computation can run on.
type Device struct {
	// Index is the device's number as CUDA (and so XLA) sees it in this process, after
	// CUDA_VISIBLE_DEVICES; for the host CPU it is 0.
	Index int
	Kind  Kind
	Name  string

	// MemoryTotal and MemoryFree are in bytes; 0 when unknown.
	MemoryTotal, MemoryFree uint64

	// Cores is the number of CPU cores this process may use (host CPU only).
	Cores int

	// UUID of a GPU, when known.
	UUID string

	// Source says where the description came from: "nvml", "pjrt" or "host".
	Source string

	// Detail holds extra facts, e.g. the driver and CUDA versions.
	Detail string
}

// memoryUsed returns MemoryTotal-MemoryFree, or 0 when either is unknown.
func (d Device) memoryUsed() uint64 {
	if d.MemoryTotal == 0 || d.MemoryFree > d.MemoryTotal {
		return 0
	}
	return d.MemoryTotal - d.MemoryFree
}

// Host describes the host CPU: its model, the cores this process may use, and its memory as this process
// may use it (within every cgroup limit above it, as under SLURM's --mem; see gpu/platform/memlimit).
func Host() Device {
	d := Device{Kind: CPU, Source: "host", Cores: HostCores(), Name: cpuModel()}
	d.MemoryTotal = uint64(max(memlimit.Total().Bytes, 0))
	d.MemoryFree = uint64(max(memlimit.Available().Bytes, 0))
	d.Detail = fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, d.Cores)
	return d
}

// HostCores is the number of CPU cores this process may run on (its affinity mask, as SLURM sets it).
func HostCores() int { return runtime.NumCPU() }

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH + " CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH + " CPU"
}

// FormatBytes prints a byte count in binary units, e.g. "79.6 GiB"; 0 (unknown) prints as "-".
func FormatBytes(n uint64) string {
	if n == 0 {
		return "-"
	}
	return memlimit.Format(int64(min(n, 1<<63-1)))
}
