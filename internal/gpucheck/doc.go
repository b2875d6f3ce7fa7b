// Package gpucheck holds the CPU tests of scripts/gpu-check.sh: its plan fits the device budget, its parts
// run in order, the twins repeat the bench's settings, and a failing part still yields the summary and the
// diagnosis a person needs. It has no code of its own.
package gpucheck
