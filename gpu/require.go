package gpu

import (
	"fmt"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// A batch job that silently falls back to the CPU turns a broken CUDA plugin into a 4-hour CPU job, and a
// GPU check that falls back passes without having touched the GPU. So batch jobs and checks require the
// GPU backend and fail at once with the reason; notebook cells may fall back, but say so loudly.

// RequireGPUEnv names the environment variable that makes the GPU backend mandatory: "1" turns it on
// (see [ParseRequireGPU] for the other values). The sbatch templates and scripts/gpu-check.sh set it;
// being an environment variable, it reaches the processes they start (test binaries, cells), where
// [OptionsFromEnvironment] reads it into [Options.RequireGPU].
const RequireGPUEnv = "GONBGPU_REQUIRE_GPU"

// ParseRequireGPU reads a value of [RequireGPUEnv]: any value but "", "0", "false", "no" and "off" turns
// the requirement on, so that a misspelt "yes" in a batch job errs on the side of failing fast.
func ParseRequireGPU(value string) bool {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// RequireGPUOption names [Options.RequireGPU] in [RequiredGPUError]'s message: a library names the option
// its caller set, and a command that set it from a flag rewrites the name to the flag's.
const RequireGPUOption = "gpu.Options.RequireGPU"

// RequiredGPUError is the error of [New] when [Options.RequireGPU] is on and the backend would not compute on a GPU.
type RequiredGPUError struct {
	Name, Reason string // the backend that would have been used instead, and why
	Explicit     bool   // it was asked for with GOMLX_BACKEND
	Fix          string // what to install for this GPU, when known (see nvidia.Presence.PluginAdvice)
}

func (e *RequiredGPUError) Error() string {
	c := e
	what := "run `gonbgpu devices --plugins` to see what was found"
	switch {
	case c.Explicit:
		what = fmt.Sprintf("unset %s (or set it to xla:cuda)", BackendEnv)
	case c.Fix != "":
		what = c.Fix
	case strings.Contains(c.Reason, "no CUDA plugin found"):
		what = `install JAX's CUDA plugin on a login node: python3 -m pip install --user "jax[cuda12]" for a P100 or V100 ` +
			`or a driver older than R580 (CUDA 12), "jax[cuda13]" for compute capability 7.5 and newer (A100, H100) on an R580 driver`
	case strings.Contains(c.Reason, "no NVIDIA GPU is visible"):
		what = "run on a GPU node (srun/sbatch --gres=gpu:1) and check CUDA_VISIBLE_DEVICES"
	}
	return fmt.Sprintf("gonbgpu: the GPU backend is required (%s, which %s=1 sets) but the backend would be %s: %s. To fix: %s; "+
		"or turn %s off (%s=0) to run on the CPU", RequireGPUOption, RequireGPUEnv, c.Name, c.Reason, what, RequireGPUOption, RequireGPUEnv)
}

// warningBlock formats a fallback warning so that it stands out in a cell's output or a job's log.
func warningBlock(msg string) string {
	return "gonbgpu: WARNING: running on the CPU, not the GPU (much slower). " + msg + "\n"
}

// CPUNotice is the line a batch job prints on standard error, once, when it computes on the CPU: which
// backend, and why — the job asked for no GPU, its GPUs cannot be used, or its GPU backend failed.
// Outside a job (c.Job, from [Options.Job]), or on a GPU, it is "". A job's log is read after hours: it
// must say where the hours went.
func CPUNotice(c *platform.Choice) string {
	if c == nil || c.Job.ID == "" || platform.IsCUDA(c.Backend) {
		return ""
	}
	job := c.Job
	var why string
	switch {
	case c.Warning != "":
		why = "a GPU is there but the GPU backend could not be used: " + c.Warning
	case strings.HasPrefix(c.Reason, BackendEnv+"="):
		why = c.Reason // asked for by hand
	case job.GPUs > 0:
		why = fmt.Sprintf("the job was given %d GPU(s) (%s) but none can be used: %s", job.GPUs, job.GPUsFrom, c.Reason)
	default:
		why = "the job asked for no GPU (submit with --gres=gpu:1 to get one): " + c.Reason
	}
	return fmt.Sprintf("gonbgpu: SLURM job %s computes on the CPU (backend %s), not a GPU: %s\n", job.ID, c.Name, why)
}
