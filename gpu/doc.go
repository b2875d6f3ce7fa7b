// Package gpu decides where GoMLX computations run: it finds this process's GPUs and CUDA plugins and
// creates the backend, returning it as a value, a [*platform.Choice], with the reason for the choice.
//
// The rules:
//
//   - A backend named (Options.Backend, which GOMLX_BACKEND sets) always wins (e.g. "go", "xla:cpu", "xla:cuda").
//   - Otherwise, when a CUDA PJRT plugin is found (package gpu/plugin) and an NVIDIA GPU is visible
//     (package gpu/nvidia), the XLA backend runs on CUDA.
//   - Otherwise the pure-Go backend runs on the host CPU. When a GPU is visible but unused (no usable
//     plugin, or CUDA failed to start), the choice carries a Warning with the reason and the fix; with
//     [Options.RequireGPU] (GONBGPU_REQUIRE_GPU=1: batch jobs, gpu-check) it is an error instead.
//
// [New] makes a new backend by these rules each time it is called, as GoMLX's compute.New does. A process
// usually wants one — a GPU backend holds the GPU's memory — so notebook cells and commands use
// [Default]: made once per process by New, and announced once with its reason, because a student who
// expected a GPU and got the CPU needs to see why before the first slow cell, not after it. In a notebook
// the announcement shows once per kernel session, except that a changed choice shows again, saying from
// what, and a cell that computes on the CPU although a GPU is there says so in every cell. A batch job on
// the CPU says so on standard error, with why ([CPUNotice], printed by `gonbgpu train` and `bench`). [Backend] is
// Default's GoMLX backend, for cells: graph.MustExecOnce(gpu.Backend(), …).
//
// Configuration comes in as a value, [Options], as GoMLX's does: nothing here writes the environment but
// the hand-over of XLA's flags to a CUDA plugin as it loads (see handOverToCUDA), and only the edges read
// it: [OptionsFromEnvironment], which the commands and [Default] call.
//
// The libraries that compute (vision/…, bench) never call this package: they are handed the Choice.
//
// Nothing here downloads anything: go-xla's automatic plugin installation is turned off, since compute
// nodes of an HPC cluster have no internet access and a download in the middle of a job only hangs it.
package gpu
