// Package memlimit says how much memory this process may still use, so that readers and `gonbgpu train`
// can refuse a size that cannot fit with one clear line, instead of dying with the Go runtime's fatal
// "out of memory" (which no caller can catch) or being killed by the kernel or SLURM.
//
// The figure is the smallest of: the memory the kernel reports available (MemAvailable of
// /proc/meminfo), and the room left under every cgroup memory limit on the way from this process's
// cgroup to the root (v2 memory.max, v1 memory.limit_in_bytes): SLURM jobs are confined by such a limit
// (--mem), and a batch job that ignores it is killed without a word.
package memlimit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Budget is an amount of memory and where the figure comes from.
type Budget struct {
	Bytes  int64  // 0 when unknown
	Source string // e.g. "MemAvailable in /proc/meminfo", "cgroup limit 8 GiB (/sys/fs/cgroup/…/memory.max)"
}

// Known reports whether the budget could be determined.
func (b Budget) Known() bool { return b.Bytes > 0 }

// String is e.g. "12.3 GiB (MemAvailable in /proc/meminfo)".
func (b Budget) String() string {
	if !b.Known() {
		return "unknown"
	}
	return Format(b.Bytes) + " (" + b.Source + ")"
}

// Available returns the memory this process may still use. Tests replace it.
var Available = func() Budget { return available("/proc") }

// Total returns the most memory this process could ever use: the host's (MemTotal) or, when smaller, the
// tightest cgroup memory limit above it (a SLURM job's --mem). Device tables show it beside [Available].
func Total() Budget { return total("/proc") }

func available(proc string) Budget {
	return smallest(meminfo(filepath.Join(proc, "meminfo"), "MemAvailable"),
		cgroupBudgets(filepath.Join(proc, "self", "cgroup"), "/sys/fs/cgroup", roomLeft)...)
}

func total(proc string) Budget {
	return smallest(meminfo(filepath.Join(proc, "meminfo"), "MemTotal"),
		cgroupBudgets(filepath.Join(proc, "self", "cgroup"), "/sys/fs/cgroup", wholeLimit)...)
}

// smallest returns the smallest known budget.
func smallest(first Budget, rest ...Budget) Budget {
	best := Budget{}
	for _, b := range append([]Budget{first}, rest...) {
		if b.Bytes > 0 && (best.Bytes == 0 || b.Bytes < best.Bytes) {
			best = b
		}
	}
	return best
}

// meminfo reads one field ("MemAvailable", "MemTotal") of a /proc/meminfo.
func meminfo(path, field string) Budget {
	data, err := os.ReadFile(path)
	if err != nil {
		return Budget{}
	}
	if n := parseMeminfo(data, field); n > 0 {
		return Budget{n, field + " in " + path}
	}
	return Budget{}
}

// parseMeminfo returns a field of meminfo content in bytes, or 0.
func parseMeminfo(data []byte, field string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil && kb > 0 && kb < noLimit>>10 {
				return kb << 10
			}
		}
	}
	return 0
}

// noLimit is above any real limit: cgroup v1 writes "no limit" as a huge page-rounded number.
const noLimit = int64(1) << 60

// A budget is either the room left under a cgroup's limit (what may still be allocated) or the whole limit.
type limitBudget func(dir, limitFile string, limit, used int64) Budget

func roomLeft(dir, limitFile string, limit, used int64) Budget {
	return Budget{max(limit-used, 1), fmt.Sprintf("cgroup limit %s, %s in use (%s)", Format(limit), Format(used), filepath.Join(dir, limitFile))}
}

func wholeLimit(dir, limitFile string, limit, _ int64) Budget {
	return Budget{limit, fmt.Sprintf("cgroup limit (%s)", filepath.Join(dir, limitFile))}
}

// cgroupRoom returns, for every cgroup memory limit that applies to this process, the room left under it.
func cgroupRoom(selfCgroup, root string) []Budget { return cgroupBudgets(selfCgroup, root, roomLeft) }

// cgroupBudgets returns a budget (see limitBudget) for every cgroup memory limit that applies to this process.
func cgroupBudgets(selfCgroup, root string, budget limitBudget) []Budget {
	data, err := os.ReadFile(selfCgroup)
	if err != nil {
		return nil
	}
	var out []Budget
	for _, c := range parseCgroups(data) {
		if c.v2 {
			out = append(out, walk(root, c.path, "memory.max", "memory.current", budget)...)
			out = append(out, walk(filepath.Join(root, "unified"), c.path, "memory.max", "memory.current", budget)...)
		} else {
			out = append(out, walk(filepath.Join(root, "memory"), c.path, "memory.limit_in_bytes", "memory.usage_in_bytes", budget)...)
		}
	}
	return out
}

// cgroup is a line of /proc/self/cgroup that matters for memory: the v2 hierarchy or v1's memory one.
type cgroup struct {
	v2   bool
	path string // always absolute and clean: "/" at least
}

// parseCgroups reads /proc/self/cgroup content ("ID:CONTROLLERS:PATH" lines).
func parseCgroups(data []byte) []cgroup {
	var out []cgroup
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		path := filepath.Clean("/" + parts[2])
		switch {
		case parts[0] == "0" && parts[1] == "":
			out = append(out, cgroup{true, path})
		case contains(strings.Split(parts[1], ","), "memory"):
			out = append(out, cgroup{false, path})
		}
	}
	return out
}

// walk looks for limit files in the cgroup at path under mount and in each of its ancestors (in a
// container the mount may already be the process's own cgroup, so the mount itself is looked at too).
func walk(mount, path, limitFile, usageFile string, budget limitBudget) []Budget {
	var out []Budget
	seen := map[string]bool{}
	for p := path; ; p = filepath.Dir(p) {
		dir := filepath.Join(mount, p)
		if !seen[dir] {
			seen[dir] = true
			if b, ok := limitOf(dir, limitFile, usageFile, budget); ok {
				out = append(out, b)
			}
		}
		if p == "/" {
			break
		}
	}
	return out
}

func limitOf(dir, limitFile, usageFile string, budget limitBudget) (Budget, bool) {
	limit, ok := readInt(filepath.Join(dir, limitFile))
	if !ok || limit <= 0 || limit >= noLimit {
		return Budget{}, false
	}
	used, _ := readInt(filepath.Join(dir, usageFile))
	return budget(dir, limitFile, limit, used), true
}

func readInt(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Format writes a byte count for people: "512 MiB", "12.3 GiB", "1.2 TiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	names := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	for v /= unit; v >= unit && i < len(names)-1; i++ {
		v /= unit
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f %s", v, names[i])
	}
	return fmt.Sprintf("%.1f %s", v, names[i])
}

// Check returns an error when need bytes exceed the budget: what (e.g. "--size 20000 with --batch 128")
// is said to need at least that much. An unknown budget accepts anything.
func Check(what string, need int64) error {
	b := Available()
	if b.Known() && need > b.Bytes {
		return fmt.Errorf("%s needs at least %s of memory, more than the %s this process may use", what, Format(need), b)
	}
	return nil
}

// Mul multiplies non-negative sizes, saturating at the largest int64 instead of overflowing: a product
// of hostile dimensions must compare as "too large", never wrap to a small or negative number.
func Mul(values ...int64) int64 {
	p := int64(1)
	for _, v := range values {
		if v <= 0 {
			return 0
		}
		if p > (1<<63-1)/v {
			return 1<<63 - 1
		}
		p *= v
	}
	return p
}
