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
}

// GPUPresence says whether NVIDIA GPUs are visible to this process, and how that was decided.
type GPUPresence struct {
	Count int    // number of visible GPUs
	How   string // e.g. "NVML: 4 GPUs, CUDA_VISIBLE_DEVICES=0,1" or "no /dev/nvidia* device files"
}

// Choose decides which backend to use, without creating it. See the package documentation for the rules.
func Choose() Choice {
	env, envSet := os.LookupEnv(BackendEnv)
	search := FindCUDAPlugin()
	return choose(env, envSet, search, DetectGPUs())
}

// choose is Choose with its inputs given, so the rules can be tested on any machine.
func choose(env string, envSet bool, search *PluginSearch, gpus GPUPresence) Choice {
	plugin := search.Best()
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
		}
		return c
	}
	switch {
	case plugin != nil && gpus.Count > 0:
		return Choice{Config: "xla:" + plugin.Path, Name: "xla:cuda", Plugin: plugin,
			Reason: fmt.Sprintf("CUDA plugin %s and %s", plugin, gpus.How)}
	case plugin != nil:
		return Choice{Config: "go", Name: "go", Plugin: plugin,
			Reason: fmt.Sprintf("a CUDA plugin was found (%s) but no NVIDIA GPU is visible (%s); using the pure-Go backend",
				plugin.Path, gpus.How)}
	default:
		return Choice{Config: "go", Name: "go",
			Reason: fmt.Sprintf("no CUDA plugin found in %s; using the pure-Go backend", searchedSummary(search))}
	}
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
func NewBackend() (compute.Backend, error) {
	backendOnce.Do(func() {
		backendValue, backendChoice, backendErr = create(Choose())
		if backendErr == nil {
			announce(fmt.Sprintf("gonbgpu: backend %s (%s): %s\n", backendChoice.Name, describe(backendValue), backendChoice.Reason))
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
	if c.Plugin != nil && strings.HasPrefix(c.Config, "xla:"+c.Plugin.Path) {
		path, err := c.Plugin.LinkDir(CacheDir())
		if err == nil {
			c.Config = strings.Replace(c.Config, c.Plugin.Path, path, 1)
		} else if c.Explicit {
			return nil, c, err
		} else {
			fb := Choice{Config: "go", Name: "go", Plugin: c.Plugin,
				Reason: fmt.Sprintf("the CUDA plugin could not be prepared (%v); using the pure-Go backend", err)}
			return create(fb)
		}
	}
	if c.Plugin != nil && strings.HasPrefix(c.Config, "xla:") {
		// Before the plugin loads: XLA reads XLA_FLAGS once.
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
