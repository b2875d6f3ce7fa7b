// Package testutil holds helpers shared by the project's tests.
package testutil

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	_ "github.com/gomlx/gomlx/backends/default" // registers "go" and "xla" for configured backends

	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// GoBackend returns GoMLX's pure-Go backend (one per test binary), whatever backend the process would
// otherwise pick: tests of the CPU paths (the lowered convolution, the exact batch norm) and of
// benchmarks' formats run there on every machine.
func GoBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := goBackend()
	if err != nil {
		t.Fatalf("cannot create the pure-Go backend: %v", err)
	}
	return b
}

var goBackend = sync.OnceValues(func() (compute.Backend, error) { return gobackend.New("") })

// TestBackendEnv names the environment variable that runs the tests written for the pure-Go backend on
// another backend: unset or "go", the pure-Go backend; "xla:cpu" (or "xla:cpu,devices=N"), XLA's CPU
// plugin as gonbgpu finds it (the checkout's .venv first: `make venv`), which `make test` runs every
// computing package on too; otherwise a GoMLX backend configuration, as `gonbgpu devices --config`
// prints the one gonbgpu chooses ("xla:/…/pjrt_c_api_cuda_plugin.so" on a GPU node). scripts/gpu-check.sh
// sets it so that the convolution, ResNet and trainer tests run on the GPU.
const TestBackendEnv = "GONBGPU_TEST_BACKEND"

// Backend returns the backend the tests of a package run on (see [TestBackendEnv]), one per test binary.
// A configured backend that cannot be created fails the test, and so does any that does not compute on a
// GPU when GONBGPU_REQUIRE_GPU=1: gpu-check's GPU tests must not pass on the CPU.
func Backend(t testing.TB) compute.Backend {
	t.Helper()
	config := strings.TrimSpace(os.Getenv(TestBackendEnv))
	var b compute.Backend
	if config == "" || config == "go" {
		b = GoBackend(t)
	} else {
		var err error
		if b, err = configured(config); err != nil {
			t.Fatalf("%s=%s: %v", TestBackendEnv, config, err)
		}
	}
	if required := strings.TrimSpace(os.Getenv("GONBGPU_REQUIRE_GPU")); required == "1" && !platform.IsCUDA(b) {
		t.Fatalf("GONBGPU_REQUIRE_GPU=1 but the tests' backend (%s=%q) is %s, not a GPU backend", TestBackendEnv, config, b.Description())
	}
	return b
}

// Choice is [Backend] as the libraries that compute are handed it (recipe.Prepare, trainer.New).
func Choice(t testing.TB) *platform.Choice {
	t.Helper()
	return platform.Of(Backend(t))
}

var (
	configuredMu       sync.Mutex
	configuredBackends = map[string]compute.Backend{}
)

// configured creates the backend of a configuration once per test binary (a GPU backend holds the GPU).
func configured(config string) (b compute.Backend, err error) {
	configuredMu.Lock()
	defer configuredMu.Unlock()
	if b := configuredBackends[config]; b != nil {
		return b, nil
	}
	defer func() {
		if r := recover(); r != nil { // an unknown backend name panics in compute
			err = fmt.Errorf("%v", r)
		}
	}()
	if o, ok, perr := xlacpu.ParseConfig(config); ok {
		if perr != nil {
			return nil, perr
		}
		if o.Plugin == "" {
			s := xlacpu.Find(xlacpu.DefaultPlaces())
			if len(s.Found) == 0 {
				return nil, fmt.Errorf("%s", s.NotFoundMessage())
			}
			o.Plugin = s.Found[0].Path
		}
		if b, err = xlacpu.New(o); err == nil {
			configuredBackends[config] = b
		}
		return b, err
	}
	if b, err = compute.NewWithConfig(config); err == nil {
		configuredBackends[config] = b
	}
	return b, err
}

// tf32Tolerance is the relative error float32 products reach on a GPU: go-xla turns TF32 on for them on
// CUDA (a 10-bit mantissa, ~5e-4 per product, ~1e-3 once summed over a convolution's window).
const tf32Tolerance = 5e-3

// Tol returns the tolerance for comparing float32 results computed on b: tol on the CPU backends (exact
// float32: pure Go, and XLA on the CPU), and at least TF32's on XLA's GPUs, whose products may round
// their inputs to TF32.
func Tol(b compute.Backend, tol float64) float64 {
	if platform.IsPureGo(b) || platform.IsXLACPU(b) {
		return tol
	}
	return max(tol, tf32Tolerance)
}

// BackendName is the name of the backend the tests of a package run on, for messages and skips:
// "go", "xla:cpu", or the configuration given.
func BackendName(t testing.TB) string {
	b := Backend(t)
	switch {
	case platform.IsPureGo(b):
		return "go"
	case platform.IsXLACPU(b):
		return "xla:cpu"
	}
	return strings.TrimSpace(os.Getenv(TestBackendEnv))
}

// SyncBuffer is a strings.Builder safe for concurrent writes and reads: a subprocess's output collected
// while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// XLACPU returns an XLA CPU backend (4 devices), whatever [TestBackendEnv] says: for the tests that
// compare the backends with each other. A machine without the pinned plugin fails the test with the
// install message (`make test` installs it first, with `make venv`).
func XLACPU(t testing.TB) compute.Backend {
	t.Helper()
	b, err := configured("xla:cpu")
	if err != nil {
		t.Fatalf("XLA CPU backend: %v", err)
	}
	return b
}
