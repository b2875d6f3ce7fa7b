// Package plugin finds the CUDA PJRT plugins of this machine and decides which one go-xla may load.
//
// [Find] searches $PJRT_PLUGIN_LIBRARY_PATH, go-xla's install folders and JAX installs (virtualenv,
// conda, the python3 on PATH, ~/.local) without downloading anything. [Search.Pick] takes the newest CUDA
// the driver runs, then the newest package version, and checks in a child process that the plugin's PJRT
// C API is one go-xla can call and that it compiles and runs a small graph of what training uses
// ([CheckCUDA]) as the pure-Go backend computes it: a plugin is loaded into this process only once it is
// known not to crash it. [Plugin.LinkDir] lays a JAX plugin out the way go-xla loads plugins, and [WithAutotuneCache] gives
// XLA a persistent autotuning cache when a child run shows the plugin accepts the flag. Answers about a
// plugin library are kept on disk, keyed by its path, size and time: every notebook cell is a new process.
//
// Package gpu uses it to choose the backend; `gonbgpu devices --plugins` and the installer show what it
// found.
package plugin
