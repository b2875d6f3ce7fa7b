package nvml

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDevices: where libnvidia-ml.so.1 is present (a GPU node) every GPU has a name, a UUID and memory;
// where it is not, Init fails with an error naming the library, and nothing panics.
func TestDevices(t *testing.T) {
	err := Init()
	if err != nil {
		if !strings.Contains(err.Error(), Library) && !strings.Contains(err.Error(), "NVML init") {
			t.Fatalf("Init failed without naming the library: %v", err)
		}
		t.Logf("no NVML here: %v", err)
		if _, statErr := os.Stat("/dev/nvidiactl"); statErr == nil {
			t.Fatalf("this machine has an NVIDIA driver (/dev/nvidiactl) but NVML failed: %v", err)
		}
		return
	}
	defer Shutdown()
	n, err := DeviceCount()
	if err != nil || n < 1 {
		t.Fatalf("DeviceCount: %d, %v", n, err)
	}
	if v, err := DriverVersion(); err != nil || v == "" {
		t.Errorf("DriverVersion: %q, %v", v, err)
	}
	if v, err := CUDADriverVersion(); err != nil || v < 10000 {
		t.Errorf("CUDADriverVersion: %d, %v", v, err)
	}
	for i := range n {
		d, err := DeviceByIndex(i)
		if err != nil {
			t.Fatalf("DeviceByIndex(%d): %v", i, err)
		}
		name, err1 := d.Name()
		uuid, err2 := d.UUID()
		total, free, err3 := d.Memory()
		t.Logf("GPU %d: %s %s, %d of %d bytes free", i, name, uuid, free, total)
		if err1 != nil || err2 != nil || err3 != nil || name == "" || !strings.HasPrefix(uuid, "GPU-") || total == 0 || free > total {
			t.Errorf("GPU %d: name %q (%v), uuid %q (%v), memory %d/%d (%v)", i, name, err1, uuid, err2, free, total, err3)
		}
	}
	if _, err := DeviceByIndex(n + 100); err == nil {
		t.Errorf("a device index past the count was accepted")
	}
}

// TestBuildIsSilent compiles this package from a fresh build cache without the Makefile's CGO_CFLAGS,
// as `go run ./cmd/gonbgpu` does on a first run, and wants no compiler output at all; and checks that
// gonbgpu no longer builds go-nvml, whose cgo code warns about every deprecated NVML function.
func TestBuildIsSilent(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles runtime/cgo from scratch")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	env := []string{"GOCACHE=" + t.TempDir(), "CGO_CFLAGS=", "CGO_ENABLED=1", "GOFLAGS="}
	build := exec.Command("go", "build", "./internal/nvml")
	build.Dir, build.Env = root, append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("go build ./internal/nvml from a clean cache printed (err %v):\n%s", err, out)
	}
	list := exec.Command("go", "list", "-deps", "./cmd/gonbgpu", "./gpu", "./kernel/...")
	list.Dir = root
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "github.com/NVIDIA/go-nvml") {
		t.Errorf("gonbgpu still builds github.com/NVIDIA/go-nvml, whose cgo code prints deprecation warnings")
	}
}
