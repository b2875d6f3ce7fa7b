// Package gpu decides where GoMLX computations run, and describes the hardware they run on.
//
// Every notebook, the CLI and the tests get their backend from [Backend]. The choice is made once per
// process and printed once, with its reason, because a student who expected a GPU and got the CPU needs
// to see why before the first slow cell, not after it:
//
//   - GOMLX_BACKEND, when set, always wins (e.g. "go", "xla:cpu", "xla:cuda").
//   - Otherwise, when a CUDA PJRT plugin is found (see [FindCUDAPlugin]) and an NVIDIA GPU is visible,
//     the XLA backend runs on CUDA.
//   - Otherwise the pure-Go backend runs on the host CPU. When a GPU is visible but unused (no usable
//     plugin, or CUDA failed to start), the announcement carries a WARNING with the reason and the fix;
//     with [RequireGPU] (GONBGPU_REQUIRE_GPU=1: batch jobs, gpu-check) it is an error instead.
//
// Plugins are chosen by the driver's CUDA version, then by package version, and checked in a child process
// (their PJRT C API table, see [PJRTAPI]) before they are loaded here. GPUs are counted as CUDA counts them
// in this process: nvml.go reads the node, visible.go applies cgroups, CUDA_DEVICE_ORDER and
// CUDA_VISIBLE_DEVICES (indices, GPU and MIG UUIDs).
//
// Nothing here downloads anything: go-xla's automatic plugin installation is turned off, since compute
// nodes of an HPC cluster have no internet access and a download in the middle of a job only hangs it.
//
// [Devices] lists GPUs (through NVML when libnvidia-ml.so.1 loads, through PJRT otherwise) and the host
// CPU, and [FormatDevices] prints them as a table in the spirit of nvidia-smi.
package gpu
