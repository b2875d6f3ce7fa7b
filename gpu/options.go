package gpu

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
	"github.com/gonbgpu/gonbgpu/internal/slurm"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// Options says how [New] chooses and creates a backend. It is a value, as GoMLX's configuration is, so
// that a program (a test, `gonbgpu bench --compare`, a notebook putting two backends side by side) can
// hold several without one changing another's, and nothing in this package depends on what a command line
// or the environment said. The zero value chooses automatically, as a cell wants.
//
// The environment variables stay the user's way in: [OptionsFromEnvironment] reads them, once, at the
// edges — the commands in cmd/gonbgpu, and [Default], which cells call.
type Options struct {
	// Backend names the backend as GOMLX_BACKEND does ("go", "xla:cpu", "xla:cpu,devices=2",
	// "xla:cuda"): then it is used whatever this machine has, and a failure to create it is an error.
	// "" chooses by the rules of the package documentation.
	Backend string

	// CPUDevices is how many devices XLA's CPU backend exposes ($GONBGPU_CPU_DEVICES); 0: the plugin's
	// default (4). A Backend of "xla:cpu,devices=N" says the same and wins.
	CPUDevices int

	// RequireGPU makes a backend that does not compute on a GPU an error ([*RequiredGPUError]) instead
	// of a fallback with a warning ($GONBGPU_REQUIRE_GPU): batch jobs and checks want it, since a job that
	// silently runs on the CPU burns its hours for nothing.
	RequireGPU bool

	// AutotuneCache controls XLA's autotuning cache for a CUDA plugin ($GONBGPU_XLA_AUTOTUNE_CACHE): ""
	// keeps it under gonbgpu's cache folder, "off" turns it off, anything else is the folder to use.
	AutotuneCache string

	// Job is the batch job this process runs in (SLURM's environment, read by [OptionsFromEnvironment]);
	// the [platform.Choice] carries it to the libraries that say how to ask for GPUs or record where a
	// run ran. The zero Job: not in a job.
	Job platform.Job
}

// CPUDevicesEnv names the environment variable that sets how many devices the XLA CPU backend exposes
// (default: the plugin's, 4). GOMLX_BACKEND=xla:cpu,devices=N says the same.
const CPUDevicesEnv = "GONBGPU_CPU_DEVICES"

// OptionsFromEnvironment reads the Options from this process's environment: GOMLX_BACKEND,
// GONBGPU_CPU_DEVICES, GONBGPU_REQUIRE_GPU, GONBGPU_XLA_AUTOTUNE_CACHE, and SLURM's job (Options.Job). It is for the edges (a command,
// [Default]); a value it cannot read is an error naming the variable, which is what the user set.
func OptionsFromEnvironment() (Options, error) {
	o := Options{
		Backend:       strings.TrimSpace(os.Getenv(BackendEnv)),
		RequireGPU:    ParseRequireGPU(os.Getenv(RequireGPUEnv)),
		AutotuneCache: strings.TrimSpace(os.Getenv(plugin.AutotuneCacheEnv)),
		Job:           slurm.FromEnvironment(),
	}
	if v := strings.TrimSpace(os.Getenv(CPUDevicesEnv)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > xlacpu.MaxDevices {
			return Options{}, fmt.Errorf("gonbgpu: %s=%q: want a number of CPU devices from 1 to %d", CPUDevicesEnv, v, xlacpu.MaxDevices)
		}
		o.CPUDevices = n
	}
	return o, nil
}
