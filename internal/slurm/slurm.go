// Package slurm reads what SLURM tells a job through its environment: how many GPUs the job was given
// (for the messages that say how to ask for more) and the variables that identify a job and its
// resources (recorded in training histories). It is read at the edge, once, into a [platform.Job] value
// (gpu.OptionsFromEnvironment); libraries take that value.
package slurm

import (
	"os"
	"strconv"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// FromEnvironment reads the job this process runs in from its environment: SLURM's job id and GPUs,
// CUDA_VISIBLE_DEVICES, and the job's facts ([platform.Job]). Outside SLURM it is the zero Job but for
// CUDA_VISIBLE_DEVICES, when set.
func FromEnvironment() platform.Job { return Read(os.LookupEnv) }

// Read is [FromEnvironment] with the environment given as a lookup (os.LookupEnv, or a test's).
func Read(lookup func(string) (string, bool)) platform.Job {
	g := jobGPUs(lookup)
	j := platform.Job{GPUs: g.Count, GPUsFrom: g.From, Facts: job(lookup)}
	j.ID, _ = lookup("SLURM_JOB_ID")
	j.VisibleDevices, _ = lookup("CUDA_VISIBLE_DEVICES")
	return j
}

// gpus is what SLURM says about a job's GPUs.
type gpus struct {
	Count int    // 0 when not a SLURM job, or unknown
	From  string // the variable it came from, e.g. "SLURM_GPUS_ON_NODE=4"
}

// jobGPUs reads the GPU count of a SLURM job from its environment: SLURM_GPUS_ON_NODE, then
// SLURM_STEP_GPUS / SLURM_JOB_GPUS (lists of indices), then SLURM_GPUS ("4" or "a100:4").
func jobGPUs(lookup func(string) (string, bool)) gpus {
	if v, ok := lookup("SLURM_GPUS_ON_NODE"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			return gpus{n, "SLURM_GPUS_ON_NODE=" + v}
		}
	}
	for _, k := range []string{"SLURM_STEP_GPUS", "SLURM_JOB_GPUS"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			return gpus{len(strings.Split(strings.TrimSpace(v), ",")), k + "=" + v}
		}
	}
	if v, ok := lookup("SLURM_GPUS"); ok {
		s := v
		if i := strings.LastIndex(s, ":"); i >= 0 {
			s = s[i+1:]
		}
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
			return gpus{n, "SLURM_GPUS=" + v}
		}
	}
	return gpus{}
}

// jobKeys are the variables a job's Facts record: the job, its node and partition, its GPUs and CPUs, and
// CUDA_VISIBLE_DEVICES (which GPUs ran, SLURM job or not).
var jobKeys = []string{"SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURMD_NODENAME", "SLURM_JOB_PARTITION",
	"SLURM_GPUS", "SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_CPUS_PER_TASK", "CUDA_VISIBLE_DEVICES"}

// job returns those of [jobKeys] that are set, or nil when none is.
func job(lookup func(string) (string, bool)) map[string]string {
	m := map[string]string{}
	for _, k := range jobKeys {
		if v, ok := lookup(k); ok {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
