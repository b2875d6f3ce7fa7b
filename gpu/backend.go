package gpu

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	_ "github.com/gomlx/gomlx/backends/default" // registers the "go" and "xla" backends.
	"github.com/janpfeifer/gonb/gonbui"
)

// BackendEnv is GoMLX's environment variable naming the backend to use, e.g. "go" or "xla:cuda".
const BackendEnv = compute.ConfigEnvVar

// Choice is a decision about which backend to use, and why.
type Choice struct {
	// Config is the backend configuration handed to GoMLX: "go", "xla:cpu", or "xla:<path to the
	// CUDA plugin>" when a discovered plugin is used.
	Config string

	// Name is the short name shown to people: "go", "xla:cuda", "xla:cpu", …
	Name string

	// Reason says, in one sentence, why this backend was chosen.
	Reason string

	// Plugin is the CUDA plugin used (or found but unused), if any.
	Plugin *Plugin

	// Explicit is true when the user asked for this backend through GOMLX_BACKEND: then a failure to
	// create it is an error, not a reason to fall back to the CPU.
	Explicit bool

	// Warning, when set, says that a GPU is there but the CPU was chosen (no usable plugin, or the CUDA
	// backend failed to start), why, and what to do. It is printed loudly, once; with [RequireGPU] it is
	// an error instead.
	Warning string
}

// GPUPresence says whether NVIDIA GPUs are visible to this process, and how that was decided.
type GPUPresence struct {
	Count int    // number of GPUs this process can use
	How   string // e.g. "NVML sees 4 GPU(s) …, CUDA_VISIBLE_DEVICES=0,1" or "no /dev/nvidia* device files"

	// DeviceFiles counts the /dev/nvidia<N> files this process may open: with a CUDA plugin they are
	// reason enough to try CUDA even when NVML counts no GPU (NVML must not veto CUDA).
	DeviceFiles int

	// Hidden is true when CUDA_VISIBLE_DEVICES hides every GPU (empty, or -1): then CUDA is not tried.
	Hidden bool

	// DriverCUDA is the newest CUDA version the driver runs (NVML's nvmlSystemGetCudaDriverVersion,
	// 1000×major+10×minor), 0 when unknown.
	DriverCUDA int
}

// Choose decides which backend to use, without creating it. See the package documentation for the rules.
func Choose() Choice {
	env, envSet := os.LookupEnv(BackendEnv)
	search := FindCUDAPlugin()
	return choose(env, envSet, search, DetectGPUs())
}

// checkPlugins turns on the child-process check of a plugin's PJRT C API before it is used (tests of the
// choice rules turn it off, or replace probePJRTPlugin).
var checkPlugins = true

// choose is Choose with its inputs given, so the rules can be tested on any machine.
func choose(env string, envSet bool, search *PluginSearch, gpus GPUPresence) Choice {
	// The plugin is checked (a child process, once per plugin) only when it may be loaded.
	wantCUDA := gpus.Count > 0 || (!gpus.Hidden && gpus.DeviceFiles > 0)
	if envSet && strings.TrimSpace(env) != "" {
		wantCUDA = strings.HasPrefix(strings.TrimSpace(env), "xla:cuda")
	}
	plugin, refused := search.pick(gpus.DriverCUDA, wantCUDA && checkPlugins)
	if envSet && strings.TrimSpace(env) != "" {
		c := Choice{Config: env, Name: env, Explicit: true, Plugin: plugin,
			Reason: fmt.Sprintf("%s=%s is set", BackendEnv, env)}
		// "xla:cuda" with a plugin that go-xla would not find by itself: point it at the plugin found.
		if name, opts, _ := strings.Cut(env, ","); name == "xla:cuda" && plugin != nil {
			c.Config = "xla:" + plugin.Path
			if opts != "" {
				c.Config += "," + opts
			}
			c.Reason += fmt.Sprintf("; CUDA plugin %s", plugin)
		} else if name == "xla:cuda" && refused != "" {
			c.Reason += "; " + refused
		}
		return c
	}
	switch {
	case plugin != nil && gpus.Count > 0:
		return Choice{Config: "xla:" + plugin.Path, Name: "xla:cuda", Plugin: plugin,
			Reason: fmt.Sprintf("CUDA plugin %s and %s", plugin, gpus.How)}
	case plugin != nil && !gpus.Hidden && gpus.DeviceFiles > 0:
		// NVML may count no usable GPU where CUDA finds one (a cgroup NVML misreads, an NVML older than
		// the driver, a missing libnvidia-ml): the device files are there, so CUDA itself decides.
		return Choice{Config: "xla:" + plugin.Path, Name: "xla:cuda", Plugin: plugin,
			Reason: fmt.Sprintf("CUDA plugin %s; NVML finds no GPU to use (%s) but %d /dev/nvidia* device file(s) can be opened, so CUDA is tried",
				plugin, gpus.How, gpus.DeviceFiles)}
	case plugin != nil:
		return Choice{Config: "go", Name: "go", Plugin: plugin,
			Reason: fmt.Sprintf("a CUDA plugin was found (%s) but no NVIDIA GPU is visible (%s); using the pure-Go backend",
				plugin.Path, gpus.How)}
	}
	c := Choice{Config: "go", Name: "go",
		Reason: fmt.Sprintf("no CUDA plugin found in %s; using the pure-Go backend", searchedSummary(search))}
	if refused != "" {
		c.Reason = fmt.Sprintf("no usable CUDA plugin (%s); using the pure-Go backend", refused)
	}
	if gpus.Count > 0 || (!gpus.Hidden && gpus.DeviceFiles > 0) {
		what := "install JAX's CUDA plugin (see `gonbgpu devices`)"
		if refused != "" {
			what = "install a CUDA plugin this driver and gonbgpu can run (see `gonbgpu devices --plugins`)"
		}
		c.Warning = fmt.Sprintf("an NVIDIA GPU is visible (%s) but %s; to use the GPU, %s", gpus.How, c.Reason, what)
	}
	return c
}

// searchedSummary names the kinds of places searched, briefly.
func searchedSummary(s *PluginSearch) string {
	var kinds []string
	seen := map[string]bool{}
	for _, d := range s.Searched {
		k, _, _ := strings.Cut(d, ":")
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return "no place (nothing to search)"
	}
	return strings.Join(kinds, ", ")
}

// Log is where the backend choice is announced. In a notebook it goes to the cell's output; elsewhere to
// standard error, so that it never mixes with a command's machine-readable output.
var Log io.Writer = defaultLog()

func defaultLog() io.Writer {
	if gonbui.IsNotebook {
		return os.Stdout
	}
	return os.Stderr
}

var (
	backendOnce   sync.Once
	backendValue  compute.Backend
	backendErr    error
	backendChoice Choice
)

// Backend returns this process's backend, creating it on the first call and announcing the choice once.
// It panics with a readable message if the backend cannot be created; use [NewBackend] to get the error.
func Backend() compute.Backend {
	b, err := NewBackend()
	if err != nil {
		panic(err)
	}
	return b
}

// NewBackend is like [Backend] but returns the error instead of panicking.
//
// When [RequireGPU] is on (GONBGPU_REQUIRE_GPU=1, `gonbgpu train --require-gpu`, SLURM GPU jobs), a
// backend that does not compute on a GPU is an error that says why and what to do; otherwise a GPU that
// is there but unused is announced loudly, once, as a warning.
func NewBackend() (compute.Backend, error) {
	backendOnce.Do(func() {
		backendValue, backendChoice, backendErr = create(Choose())
		if backendErr == nil && RequireGPU() && !isCUDABackend(backendValue) {
			backendErr = requiredGPUError(backendChoice)
			backendValue = nil
		}
		if backendErr == nil {
			line := fmt.Sprintf("gonbgpu: backend %s (%s): %s\n", backendChoice.Name, describe(backendValue), backendChoice.Reason)
			if backendChoice.Warning != "" {
				line += warningBlock(backendChoice.Warning)
			}
			announce(line)
		}
	})
	return backendValue, backendErr
}

// announce prints the backend line once per process — and, in a notebook, once per kernel session:
// GoNB runs every cell as a new process, and the same line above every cell's output would drown what
// the cell shows. A marker in GoNB's per-kernel temporary folder remembers what was announced; a
// different choice (say, after GOMLX_BACKEND changed) is announced again.
func announce(line string) {
	if dir := os.Getenv("GONB_TMP_DIR"); dir != "" && gonbui.IsNotebook {
		marker := filepath.Join(dir, ".gonbgpu-backend")
		if prev, err := os.ReadFile(marker); err == nil && string(prev) == line {
			return
		}
		_ = os.WriteFile(marker, []byte(line), 0o644)
	}
	fmt.Fprint(Log, line)
}

// Chosen returns the choice behind [Backend]; it creates the backend if that has not happened yet.
func Chosen() (Choice, error) {
	_, err := NewBackend()
	return backendChoice, err
}

// create builds the backend for a choice. An automatic choice of CUDA that fails falls back to the
// pure-Go backend, saying why; an explicit one is an error.
func create(c Choice) (compute.Backend, Choice, error) {
	xla.EnableAutoInstall(false)
	usesPlugin := c.Plugin != nil && strings.HasPrefix(c.Config, "xla:"+c.Plugin.Path)
	if usesPlugin {
		path, err := c.Plugin.LinkDir(CacheDir())
		if err == nil {
			c.Config = strings.Replace(c.Config, c.Plugin.Path, path, 1)
		} else if c.Explicit {
			return nil, c, err
		} else {
			fb := Choice{Config: "go", Name: "go", Plugin: c.Plugin,
				Reason: fmt.Sprintf("the CUDA plugin could not be prepared (%v); using the pure-Go backend", err)}
			fb.Warning = fmt.Sprintf("CUDA was chosen (%s) but %s; fix the folder or set %s", c.Reason, fb.Reason, "GONBGPU_CACHE_DIR")
			return create(fb)
		}
		// CUDA numbers GPUs the way NVML and SLURM do only with PCI_BUS_ID; its default, FASTEST_FIRST,
		// may put another GPU first on a node with mixed models, and then "GPU 0" would differ between
		// the device table, CheckFits and the computation. Set before CUDA starts; the user's value wins.
		if _, set := os.LookupEnv(DeviceOrderEnv); !set {
			os.Setenv(DeviceOrderEnv, "PCI_BUS_ID")
		}
		// Before the plugin loads: XLA reads XLA_FLAGS once. Only for the CUDA plugin: never for
		// GOMLX_BACKEND=xla:cpu or another plugin.
		if dir, err := EnableAutotuneCache(c.Plugin, CacheDir()); err != nil {
			c.Reason += fmt.Sprintf("; no XLA autotuning cache (%v)", err)
		} else if dir != "" {
			c.Reason += "; XLA autotuning results kept in " + dir + " (re-runs compile faster)"
		}
	}
	b, err := newWithConfig(c.Config)
	if err == nil {
		return b, c, nil
	}
	if c.Explicit || c.Config == "go" {
		return nil, c, fmt.Errorf("gonbgpu: cannot create backend %q (%s): %w", c.Name, c.Reason, err)
	}
	fb := Choice{Config: "go", Name: "go", Plugin: c.Plugin,
		Reason: fmt.Sprintf("CUDA was found but its backend failed to start (%v); using the pure-Go backend", firstLine(err.Error()))}
	fb.Warning = fmt.Sprintf("CUDA was chosen (%s) but its backend failed to start: %v. Check the driver and plugin with "+
		"`gonbgpu devices --plugins`, or install the plugin matching the driver's CUDA version", c.Reason, firstLine(err.Error()))
	return create(fb)
}

// newWithConfig is compute.NewWithConfig with its panics (an unknown backend name) turned into errors.
func newWithConfig(config string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return compute.NewWithConfig(config)
}

// describe gives a short description of a backend's devices.
func describe(b compute.Backend) string {
	n := b.NumDevices()
	if IsPureGo(b) {
		return fmt.Sprintf("pure Go on the host CPU, %d cores", HostCores())
	}
	if n == 1 {
		return "1 device: " + b.DeviceDescription(0)
	}
	return fmt.Sprintf("%d devices: %s, …", n, b.DeviceDescription(0))
}

// IsPureGo reports whether b is GoMLX's pure-Go backend, which runs on the host CPU and has no fused
// training kernels, so models pick CPU-friendly formulations on it.
func IsPureGo(b compute.Backend) bool { return b != nil && b.String() == "go" }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
