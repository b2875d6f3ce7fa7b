package memlimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMemAvailable(t *testing.T) {
	proc := t.TempDir()
	write(t, filepath.Join(proc, "meminfo"), "MemTotal:       32000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n")
	b := available(proc)
	if b.Bytes != 2048<<10 || !strings.Contains(b.Source, "MemAvailable") {
		t.Fatalf("got %+v", b)
	}
	if b := total(proc); b.Bytes != 32000000<<10 || !strings.Contains(b.Source, "MemTotal") {
		t.Fatalf("total: got %+v", b)
	}
}

// TestCgroupLimits: the tightest of the limits on the way from the process's cgroup to the root wins,
// for v2 ("max" is no limit) and v1 (a huge number is no limit).
func TestCgroupLimits(t *testing.T) {
	root := t.TempDir()
	self := filepath.Join(root, "self-cgroup")
	write(t, self, "0::/slurm/job_7/step_0\n4:memory:/job_7\n")
	write(t, filepath.Join(root, "slurm/job_7/step_0/memory.max"), "max\n")
	write(t, filepath.Join(root, "slurm/job_7/memory.max"), "1073741824\n")
	write(t, filepath.Join(root, "slurm/job_7/memory.current"), "268435456\n")
	write(t, filepath.Join(root, "memory/job_7/memory.limit_in_bytes"), "9223372036854771712\n")
	got := cgroupRoom(self, root)
	if len(got) != 1 || got[0].Bytes != 768<<20 || !strings.Contains(got[0].Source, "1.0 GiB") {
		t.Fatalf("got %+v", got)
	}
	write(t, filepath.Join(root, "memory/job_7/memory.limit_in_bytes"), "536870912\n")
	got = cgroupRoom(self, root)
	if len(got) != 2 || got[1].Bytes != 512<<20 {
		t.Fatalf("v1 limit: got %+v", got)
	}
	// The whole limits, for the most the process could use: 1 GiB (v2) and 512 MiB (v1), not the room left.
	limits := cgroupBudgets(self, root, wholeLimit)
	if len(limits) != 2 || limits[0].Bytes != 1<<30 || limits[1].Bytes != 512<<20 {
		t.Fatalf("limits: got %+v", limits)
	}
}

func TestCheckAndFormat(t *testing.T) {
	old := Available
	defer func() { Available = old }()
	Available = func() Budget { return Budget{1 << 30, "test"} }
	if err := Check("x", 1<<29); err != nil {
		t.Fatal(err)
	}
	err := Check("--size 20000", Mul(128, 20000, 20000, 3, 4))
	if err == nil || !strings.Contains(err.Error(), "--size 20000 needs at least 572 GiB") || !strings.Contains(err.Error(), "1.0 GiB (test)") {
		t.Fatalf("got %v", err)
	}
	if Mul(1<<40, 1<<40) != 1<<63-1 || Mul(3, 0) != 0 {
		t.Fatal("Mul does not saturate")
	}
	Available = func() Budget { return Budget{} }
	if err := Check("x", 1<<62); err != nil {
		t.Fatalf("an unknown budget must accept: %v", err)
	}
	if b := old(); !b.Known() {
		t.Errorf("no memory figure on this machine: %+v", b)
	}
}

// FuzzParse feeds arbitrary content to the /proc parsers: never a panic, never a negative figure, and
// cgroup paths always absolute and clean (they are joined under /sys/fs/cgroup).
func FuzzParse(f *testing.F) {
	f.Add([]byte("MemAvailable:   2048 kB\n"))
	f.Add([]byte("0::/user.slice/x\n4:memory,cpu:/job_1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, field := range []string{"MemAvailable", "MemTotal"} {
			if n := parseMeminfo(data, field); n < 0 {
				t.Fatalf("negative %s %d", field, n)
			}
		}
		for _, c := range parseCgroups(data) {
			if !filepath.IsAbs(c.path) || filepath.Clean(c.path) != c.path {
				t.Fatalf("cgroup path %q", c.path)
			}
		}
	})
}
