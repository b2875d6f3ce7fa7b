package slurm

import (
	"maps"
	"testing"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestJobGPUs(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 0},
		{map[string]string{"SLURM_GPUS_ON_NODE": "4"}, 4},
		{map[string]string{"SLURM_JOB_GPUS": "0,1,3"}, 3},
		{map[string]string{"SLURM_STEP_GPUS": "2", "SLURM_JOB_GPUS": "0,1,2,3"}, 1},
		{map[string]string{"SLURM_GPUS": "a100:2"}, 2},
		{map[string]string{"SLURM_GPUS": "8"}, 8},
		{map[string]string{"SLURM_GPUS_ON_NODE": "junk", "SLURM_GPUS": "2"}, 2},
	}
	for _, c := range cases {
		got := jobGPUs(lookupIn(c.env))
		if got.Count != c.want {
			t.Errorf("%v: got %d (%s), want %d", c.env, got.Count, got.From, c.want)
		}
	}
}

func TestJob(t *testing.T) {
	if got := job(lookupIn(map[string]string{"HOME": "/home/x"})); got != nil {
		t.Errorf("no SLURM variable: got %v, want nil", got)
	}
	// Outside SLURM the GPU mask is still recorded: it says which GPUs ran.
	if got := job(lookupIn(map[string]string{"CUDA_VISIBLE_DEVICES": "1"})); !maps.Equal(got, map[string]string{"CUDA_VISIBLE_DEVICES": "1"}) {
		t.Errorf("GPU mask only: got %v", got)
	}
	env := map[string]string{"SLURM_JOB_ID": "77", "SLURM_GPUS_ON_NODE": "2", "PATH": "/bin"}
	if got := job(lookupIn(env)); !maps.Equal(got, map[string]string{"SLURM_JOB_ID": "77", "SLURM_GPUS_ON_NODE": "2"}) {
		t.Errorf("job: got %v", got)
	}
}

// TestFromEnvironment: the Job read from an environment carries the id, the GPUs and where SLURM said
// so, CUDA's mask, and the facts; outside SLURM only the mask.
func TestFromEnvironment(t *testing.T) {
	env := map[string]string{"SLURM_JOB_ID": "77", "SLURM_JOB_GPUS": "0,1", "CUDA_VISIBLE_DEVICES": "0,1", "PATH": "/bin"}
	j := Read(lookupIn(env))
	if j.ID != "77" || j.GPUs != 2 || j.GPUsFrom != "SLURM_JOB_GPUS=0,1" || j.VisibleDevices != "0,1" ||
		!maps.Equal(j.Facts, map[string]string{"SLURM_JOB_ID": "77", "SLURM_JOB_GPUS": "0,1", "CUDA_VISIBLE_DEVICES": "0,1"}) {
		t.Errorf("in a job: %+v", j)
	}
	if j := Read(lookupIn(map[string]string{"HOME": "/h"})); j.ID != "" || j.GPUs != 0 || j.Facts != nil || j.VisibleDevices != "" {
		t.Errorf("outside a job: %+v", j)
	}
}
