// Package platform describes where gonbgpu computes, as plain values: the GoMLX backend chosen, why it
// was chosen, and the devices it computes on with their memory.
//
// Package gpu makes the choice: it finds CUDA plugins and GPUs (NVML, cgroups, SLURM's renumbering) and
// creates the backend. Everything that computes — vision/recipe, vision/trainer, the benchmarks — is
// handed the result, a [*Choice], instead of looking for GPUs or reading a process-wide choice itself. So
// a run records the backend it really ran on, a test can hand it any backend ([Of]), and a convolution
// op does not drag NVML or go-xla into its build.
//
// The package also holds the facts about devices that both sides share: [Device] and its table
// ([FormatTable], [Rows]), memory checks ([CheckFits], [isOutOfMemory]) and what kind of backend a
// compute.Backend is ([IsPureGo], [IsCUDA]).
package platform
