package gpu

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gonbgpu/gonbgpu/internal/nvml"
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

// MemoryUsed returns MemoryTotal-MemoryFree, or 0 when either is unknown.
func (d Device) MemoryUsed() uint64 {
	if d.MemoryTotal == 0 || d.MemoryFree > d.MemoryTotal {
		return 0
	}
	return d.MemoryTotal - d.MemoryFree
}

// Devices lists the GPUs visible to this process and the host CPU.
//
// GPUs come from NVML when libnvidia-ml.so.1 loads (with live free memory); otherwise, if b is an XLA
// backend on CUDA, from PJRT's device descriptions. b may be nil.
func Devices(b compute.Backend) []Device {
	gpus, _, err := nvmlDevices()
	if err != nil && b != nil && !IsPureGo(b) {
		gpus = pjrtDevices(b)
	}
	return append(gpus, HostDevice())
}

// DetectGPUs says how many NVIDIA GPUs this process can use, without creating any backend.
func DetectGPUs() GPUPresence {
	if cvd, set := os.LookupEnv("CUDA_VISIBLE_DEVICES"); set && (strings.TrimSpace(cvd) == "" || strings.TrimSpace(cvd) == "-1") {
		return GPUPresence{0, fmt.Sprintf("CUDA_VISIBLE_DEVICES=%q hides all GPUs", cvd)}
	}
	gpus, driver, err := nvmlDevices()
	if err == nil {
		how := fmt.Sprintf("NVML sees %d visible GPU(s)", len(gpus))
		if driver != "" {
			how += ", driver " + driver
		}
		if cvd := os.Getenv("CUDA_VISIBLE_DEVICES"); cvd != "" {
			how += ", CUDA_VISIBLE_DEVICES=" + cvd
		}
		return GPUPresence{len(gpus), how}
	}
	nodes, _ := filepath.Glob("/dev/nvidia[0-9]*")
	if len(nodes) == 0 {
		return GPUPresence{0, "NVML not loadable (" + err.Error() + ") and no /dev/nvidia* device files"}
	}
	n := len(VisibleIndices(len(nodes), os.Getenv("CUDA_VISIBLE_DEVICES"), nil))
	return GPUPresence{n, fmt.Sprintf("%d /dev/nvidia* device file(s); NVML not loadable (%v)", n, err)}
}

// VisibleIndices applies a CUDA_VISIBLE_DEVICES value to the physical GPUs 0..total-1 and returns the
// physical indices visible, in CUDA's order. Entries may be indices or UUIDs (or UUID prefixes, as CUDA
// accepts); uuids[i] is GPU i's UUID, or nil when unknown. Like CUDA, it stops at the first entry that
// is invalid. An unset or empty-after-trim value with no commas means all devices when env is "".
func VisibleIndices(total int, env string, uuids []string) []int {
	env = strings.TrimSpace(env)
	if env == "" {
		all := make([]int, total)
		for i := range all {
			all[i] = i
		}
		return all
	}
	var out []int
	seen := map[int]bool{}
	for _, tok := range strings.Split(env, ",") {
		tok = strings.TrimSpace(tok)
		idx := -1
		if n, err := strconv.Atoi(tok); err == nil {
			if n >= 0 && n < total {
				idx = n
			}
		} else if strings.HasPrefix(tok, "GPU-") || strings.HasPrefix(tok, "MIG-") {
			for i, u := range uuids {
				if u != "" && strings.HasPrefix(u, tok) {
					idx = i
					break
				}
			}
		}
		if idx < 0 || seen[idx] {
			break
		}
		seen[idx] = true
		out = append(out, idx)
	}
	return out
}

// nvmlDevices lists the visible GPUs through NVML.
func nvmlDevices() (devs []Device, driver string, err error) {
	if err := nvml.Init(); err != nil {
		return nil, "", err
	}
	defer nvml.Shutdown()
	count, err := nvml.DeviceCount()
	if err != nil {
		return nil, "", err
	}
	driver, _ = nvml.DriverVersion()
	cudaVersion := ""
	if v, err := nvml.CUDADriverVersion(); err == nil {
		cudaVersion = fmt.Sprintf("CUDA %d.%d", v/1000, (v%1000)/10)
	}
	handles := make([]*nvml.Device, count)
	uuids := make([]string, count)
	for i := range count {
		h, err := nvml.DeviceByIndex(i)
		if err != nil {
			continue
		}
		handles[i] = &h
		uuids[i], _ = h.UUID()
	}
	for cudaIdx, phys := range VisibleIndices(count, os.Getenv("CUDA_VISIBLE_DEVICES"), uuids) {
		h := handles[phys]
		if h == nil {
			continue
		}
		d := Device{Index: cudaIdx, Kind: GPU, Source: "nvml", UUID: uuids[phys]}
		d.Name, _ = h.Name()
		if total, free, err := h.Memory(); err == nil {
			d.MemoryTotal, d.MemoryFree = total, free
		}
		var detail []string
		if driver != "" {
			detail = append(detail, "driver "+driver)
		}
		if cudaVersion != "" {
			detail = append(detail, cudaVersion)
		}
		if phys != cudaIdx {
			detail = append(detail, fmt.Sprintf("physical GPU %d", phys))
		}
		d.Detail = strings.Join(detail, ", ")
		devs = append(devs, d)
	}
	return devs, driver, nil
}

// pjrtDevices describes the devices of a non-Go backend through PJRT's own descriptions.
func pjrtDevices(b compute.Backend) []Device {
	var devs []Device
	for i := range b.NumDevices() {
		desc := b.DeviceDescription(compute.DeviceNum(i))
		kind := CPU
		if strings.Contains(strings.ToLower(b.Description()+desc), "cuda") ||
			strings.Contains(strings.ToLower(desc), "gpu") {
			kind = GPU
		}
		devs = append(devs, Device{Index: i, Kind: kind, Name: desc, Source: "pjrt", Detail: b.Description()})
	}
	return devs
}

// HostDevice describes the host CPU: its model, the cores this process may use, and its memory (the
// cgroup limit when one applies, as under SLURM).
func HostDevice() Device {
	d := Device{Kind: CPU, Source: "host", Cores: HostCores(), Name: cpuModel()}
	d.MemoryTotal, d.MemoryFree = hostMemory()
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

// hostMemory returns total and available memory in bytes, bounded by a cgroup v2 or v1 limit.
func hostMemory() (total, free uint64) {
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			v, _ := strconv.ParseUint(fields[1], 10, 64)
			switch fields[0] {
			case "MemTotal:":
				total = v * 1024
			case "MemAvailable:":
				free = v * 1024
			}
		}
		f.Close()
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || limit == 0 || limit >= total {
			continue
		}
		used := uint64(0)
		for _, u := range []string{"/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"} {
			if data, err := os.ReadFile(u); err == nil {
				used, _ = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
				break
			}
		}
		total = limit
		if used < limit && limit-used < free {
			free = limit - used
		}
		break
	}
	return total, free
}

// FormatBytes prints a byte count in binary units, e.g. "79.6 GiB"; 0 prints as "-".
func FormatBytes(n uint64) string {
	if n == 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
