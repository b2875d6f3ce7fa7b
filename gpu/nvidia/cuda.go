package nvidia

import (
	"fmt"
	"strings"
)

// Which CUDA plugin a GPU can run: by its compute capability (what the CUDA release compiles for) and by
// the driver (the newest CUDA it runs).
//
// NVIDIA's tables, and JAX's wheels built on them:
//   - CUDA 13 compiles for compute capability 7.5 (Turing) and newer: it dropped Maxwell, Pascal (P100,
//     sm_60) and Volta (V100, sm_70). It needs a driver of the R580 branch or newer (NVML: CUDA 13.0).
//     JAX's `jax[cuda13]`.
//   - CUDA 12 compiles for 5.0 to 9.0 (12.8 adds Blackwell's 10.0 and 12.0); JAX's `jax[cuda12]` wheels
//     support sm_52 and newer and need driver 525.60.13 or newer (NVML: CUDA 12.0).
//
// So on Discovery a P100 or V100 needs `jax[cuda12]` whatever the driver, and an A100 or H100 takes
// `jax[cuda13]` on an R580 driver, `jax[cuda12]` on an older one.

// cudaRelease is one CUDA major version as a plugin uses it.
type cudaRelease struct {
	Major     int
	MinCC     int    // the oldest compute capability it compiles for, 10×major+minor
	MinDriver int    // the driver's CUDA version it needs, 1000×major+10×minor (NVML's form)
	Driver    string // that driver, as NVIDIA names it
}

// cudaReleases, newest first: the order in which plugins are preferred.
var cudaReleases = []cudaRelease{
	{Major: 13, MinCC: 75, MinDriver: 13000, Driver: "R580 (580.65.06)"},
	{Major: 12, MinCC: 52, MinDriver: 12000, Driver: "525.60.13"},
}

func release(major int) (cudaRelease, bool) {
	for _, r := range cudaReleases {
		if r.Major == major {
			return r, true
		}
	}
	return cudaRelease{}, false
}

// SMName formats a compute capability (10×major+minor) as CUDA's architecture name, 70 → "sm_70".
func SMName(cc int) string { return fmt.Sprintf("sm_%d", cc) }

// gpuLabel names the GPU and its architecture for a message: "Tesla V100-SXM2-32GB (sm_70)".
func (p Presence) gpuLabel() string {
	name := p.GPUName
	if name == "" {
		name = "the GPU"
	}
	return fmt.Sprintf("%s (%s)", name, SMName(p.CC))
}

// RefusesCUDA says why a plugin built for CUDA major cudaMajor cannot run on the GPUs of p because of
// their compute capability, or "" when it can (or when either is unknown: then the driver and the plugin
// check decide).
func (p Presence) RefusesCUDA(cudaMajor int) string {
	r, ok := release(cudaMajor)
	if !ok || p.CC <= 0 || p.CC >= r.MinCC {
		return ""
	}
	return fmt.Sprintf("CUDA %d supports compute capability %d.%d (%s) and newer, and %s is older",
		cudaMajor, r.MinCC/10, r.MinCC%10, SMName(r.MinCC), p.gpuLabel())
}

// PluginCUDA returns the CUDA major version whose plugin suits the GPUs of p — the newest that both their
// compute capability and the driver allow, CUDA 12 when the driver is unknown — or 0 with why none does.
func (p Presence) PluginCUDA() (int, string) {
	var whyNot []string
	for _, r := range cudaReleases {
		if why := p.RefusesCUDA(r.Major); why != "" {
			whyNot = append(whyNot, why)
			continue
		}
		if p.DriverCUDA > 0 && p.DriverCUDA < r.MinDriver {
			whyNot = append(whyNot, fmt.Sprintf("CUDA %d needs driver %s or newer (NVML: CUDA %d.%d) and the driver runs CUDA %d.%d",
				r.Major, r.Driver, r.MinDriver/1000, (r.MinDriver%1000)/10, p.DriverCUDA/1000, (p.DriverCUDA%1000)/10))
			continue
		}
		if p.DriverCUDA == 0 && r.Major != 12 {
			continue // the driver is unknown: CUDA 12 runs on older drivers too
		}
		return r.Major, ""
	}
	return 0, strings.Join(whyNot, "; ")
}

// PipInstall is the command that installs JAX's CUDA plugin for CUDA major cuda.
func PipInstall(cuda int) string {
	return fmt.Sprintf(`python3 -m pip install --user "jax[cuda%d]"`, cuda)
}

// PluginAdvice says, in one sentence, what to install so that the GPUs of p compute, e.g.
//
//	Tesla V100-SXM2-32GB (sm_70) needs CUDA 12 (CUDA 13 supports compute capability 7.5 (sm_75) and newer, …):
//	python3 -m pip install --user "jax[cuda12]"
func (p Presence) PluginAdvice() string {
	cuda, whyNone := p.PluginCUDA()
	if cuda == 0 {
		return fmt.Sprintf("no CUDA plugin can run on %s here (%s): run on a node with a newer GPU or driver", p.gpuLabel(), whyNone)
	}
	var because []string
	for _, r := range cudaReleases {
		if r.Major <= cuda {
			break
		}
		if why := p.RefusesCUDA(r.Major); why != "" {
			because = append(because, why)
		} else if p.DriverCUDA > 0 && p.DriverCUDA < r.MinDriver {
			because = append(because, fmt.Sprintf("CUDA %d needs driver %s or newer, and the driver runs CUDA %d.%d",
				r.Major, r.Driver, p.DriverCUDA/1000, (p.DriverCUDA%1000)/10))
		}
	}
	who := p.gpuLabel()
	if p.CC == 0 {
		who = "this node"
		if p.GPUName != "" {
			who = p.GPUName
		}
	}
	msg := fmt.Sprintf("%s needs CUDA %d", who, cuda)
	if len(because) > 0 {
		msg += " (" + strings.Join(because, "; ") + ")"
	} else if p.CC == 0 && cuda == 13 {
		msg += ` ("jax[cuda12]" instead if its GPUs are older than compute capability 7.5, as P100s and V100s are)`
	} else if p.DriverCUDA == 0 {
		msg += " (the driver's CUDA version is unknown: CUDA 12 runs on driver 525.60.13 and newer, CUDA 13 needs R580 and sm_75)"
	}
	return msg + ": " + PipInstall(cuda) + " on a login node"
}
