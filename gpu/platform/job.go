package platform

// Job is what the batch system told this process about the job it runs in: SLURM's job id, the GPUs it
// gave the job, and the variables that identify the job and its resources. It is read once, at the edge
// (gpu.OptionsFromEnvironment reads SLURM's environment into gpu.Options.Job), and carried by the
// [Choice] from there: the libraries that need it (data parallelism's messages on how to ask for more
// GPUs, the training history's record of where a run ran) read it from the value they are handed, never
// from the environment, so that a test or a program can say what job it is in.
type Job struct {
	// ID is SLURM_JOB_ID; "" outside a SLURM job.
	ID string

	// GPUs is how many GPUs SLURM gave the job; 0 when it asked for none (or SLURM does not say).
	GPUs int

	// GPUsFrom names the variable that said so, e.g. "SLURM_GPUS_ON_NODE=4".
	GPUsFrom string

	// VisibleDevices is CUDA_VISIBLE_DEVICES as this process saw it ("" when unset): which GPUs CUDA shows
	// it, in a SLURM job or not.
	VisibleDevices string

	// Facts are the variables that identify the job and its resources (job id and name, nodes, partition,
	// GPUs, CPUs per task, CUDA_VISIBLE_DEVICES), those that are set; nil when none is. Training histories
	// record them.
	Facts map[string]string
}
