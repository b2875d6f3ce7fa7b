// Package slurm reads what SLURM tells a job through its environment: how many GPUs the job was given
// (for the messages that say how to ask for more) and the variables that identify a job and its
// resources (recorded in training histories).
package slurm

import (
	"os"
	"strconv"
	"strings"
)

// GPUs is what SLURM says about a job's GPUs.
type GPUs struct {
	Count int    // 0 when not a SLURM job, or unknown
	From  string // the variable it came from, e.g. "SLURM_GPUS_ON_NODE=4"
}

// JobGPUs reads the GPU count of the current SLURM job from its environment: SLURM_GPUS_ON_NODE, then
// SLURM_STEP_GPUS / SLURM_JOB_GPUS (lists of indices), then SLURM_GPUS ("4" or "a100:4").
func JobGPUs() GPUs { return jobGPUs(os.LookupEnv) }

func jobGPUs(lookup func(string) (string, bool)) GPUs {
	if v, ok := lookup("SLURM_GPUS_ON_NODE"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			return GPUs{n, "SLURM_GPUS_ON_NODE=" + v}
		}
	}
	for _, k := range []string{"SLURM_STEP_GPUS", "SLURM_JOB_GPUS"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			return GPUs{len(strings.Split(strings.TrimSpace(v), ",")), k + "=" + v}
		}
	}
	if v, ok := lookup("SLURM_GPUS"); ok {
		s := v
		if i := strings.LastIndex(s, ":"); i >= 0 {
			s = s[i+1:]
		}
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
			return GPUs{n, "SLURM_GPUS=" + v}
		}
	}
	return GPUs{}
}

// jobKeys are the variables [Job] records: the job, its node and partition, its GPUs and CPUs, and
// CUDA_VISIBLE_DEVICES (which GPUs ran, SLURM job or not).
var jobKeys = []string{"SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURMD_NODENAME", "SLURM_JOB_PARTITION",
	"SLURM_GPUS", "SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_CPUS_PER_TASK", "CUDA_VISIBLE_DEVICES"}

// Job returns those of [jobKeys] that are set, or nil when none is.
func Job() map[string]string { return job(os.LookupEnv) }

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
