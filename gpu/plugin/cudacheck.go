package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// Machine names what a CUDA plugin's verdict depends on besides the plugin file: a plugin that computes
// right with one driver or GPU model may fail to compile for another (a PTX version the driver does not
// know, kernels missing for a compute capability), so a verdict is kept per plugin, driver and GPU model.
type Machine struct {
	Driver string // the NVIDIA driver's version, "570.86.15"; "" when unknown
	GPU    string // the GPU models, "Tesla V100-SXM2-32GB" ("+" between different ones); "" when unknown
}

// cudaPlatform is the PJRT platform a CUDA plugin's client must call itself. A variable so that tests run
// the same check, in a child, on XLA's CPU plugin ("cpu").
var cudaPlatform = "cuda"

// CheckCUDA checks a CUDA plugin before this process loads it: a child process loads the NVIDIA driver and
// libraries (see [Plugin.NvidiaLibraries]) and the plugin, creates a client
// on the GPUs, and compiles and runs a convolution, a dot, a reduction and an exponential in float32 and
// bfloat16, compared with the pure-Go backend's results (xlacpu.CheckPlatform). The verdict, good or bad,
// is kept in <cacheDir>/plugin-cuda.json per plugin file and [Machine]: a child can take up to 90 s to
// load a plugin from a network file system, and every notebook cell is a new process. A child that
// crashed or ran out of time is a failed check too, kept as such. Report.Err says, in one line, why the
// plugin must not be used.
func CheckCUDA(p *Plugin, m Machine, cacheDir string) xlacpu.Report {
	what := fmt.Sprintf("%s|driver %s|gpu %s", xlacpu.CheckVersion, m.Driver, m.GPU)
	r, err := pluginCached(p.Path, what, cacheDir, "plugin-cuda.json", func() (xlacpu.Report, error) {
		r, err := checkPlugin(cudaPlatform, p.Path, p.childEnv()...)
		if err != nil {
			r.Err = err.Error()
		}
		return r, nil
	})
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// nvidiaProc is where the loaded NVIDIA kernel module describes itself. A variable for tests.
var nvidiaProc = "/proc/driver/nvidia"

// ThisMachine reads the driver's version and the GPU models from /proc/driver/nvidia, which the NVIDIA
// kernel module writes wherever it is loaded (no library needed, unlike NVML); fields are "" where it
// cannot.
func ThisMachine() Machine {
	var m Machine
	if data, err := os.ReadFile(filepath.Join(nvidiaProc, "version")); err == nil {
		// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Thu Jan  9 …"
		if _, rest, ok := strings.Cut(string(data), "Kernel Module"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				m.Driver = f[0]
			}
		}
	}
	infos, _ := filepath.Glob(filepath.Join(nvidiaProc, "gpus", "*", "information"))
	var models []string
	for _, info := range infos {
		data, err := os.ReadFile(info)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Model:"); ok && !slices.Contains(models, strings.TrimSpace(v)) {
				models = append(models, strings.TrimSpace(v))
			}
		}
	}
	slices.Sort(models)
	m.GPU = strings.Join(models, "+")
	return m
}
