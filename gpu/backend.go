package gpu

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	_ "github.com/gomlx/gomlx/backends/default" // registers the "go" and "xla" backends.
	"github.com/janpfeifer/gonb/gonbui"

	"github.com/gonbgpu/gonbgpu/gpu/nvidia"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
	"github.com/gonbgpu/gonbgpu/internal/fsutil"
	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// BackendEnv is GoMLX's environment variable naming the backend to use, e.g. "go" or "xla:cuda".
const BackendEnv = compute.ConfigEnvVar

// decision is what decide decides, before anything is created.
type decision struct {
	// Config is the backend configuration: "go", "xla:cpu" or "xla:cpu,devices=N" for XLA's CPU plugin
	// (created by package internal/xlacpu, never handed to GoMLX as such), or "xla:<path to the CUDA
	// plugin>" when a discovered CUDA plugin is used.
	Config string

	// Name is the short name shown to people: "go", "xla:cuda", "xla:cpu", …
	Name string

	// Reason says, in one sentence, why this backend was chosen.
	Reason string

	// Plugin is the CUDA plugin used (or found but unused), if any.
	Plugin *plugin.Plugin

	// CPU is the XLA CPU plugin, with what its check said, when the backend is xla:cpu.
	CPU *cpuPlugin

	// Explicit is true when the user asked for this backend through GOMLX_BACKEND: then a failure to
	// create it is an error, not a reason to fall back to the CPU.
	Explicit bool

	// Advice, when set, says what to install so that this machine's GPU computes (no usable plugin found).
	Advice string

	// Warning, when set, says that a GPU is there but the CPU was chosen (no usable plugin, or the CUDA
	// backend failed to start), why, and what to do.
	Warning string
}

// cpuPlugin is the XLA CPU plugin chosen, or why there is none.
type cpuPlugin struct {
	Plugin  *xlacpu.Plugin
	Report  xlacpu.Report
	Devices int    // the number of CPU devices asked for; 0: the plugin's default
	Why     string // when Plugin is nil: why no CPU plugin can be used (none found, or each refused)
}

// usable reports whether the XLA CPU plugin can be used.
func (c *cpuPlugin) usable() bool { return c != nil && c.Plugin != nil }

// describe says what the plugin is, for a reason: "XLA's CPU plugin PATH (PJRT C API 0.106, 4 CPU devices)".
func (c *cpuPlugin) describe() string {
	n := c.Devices
	if n == 0 {
		n = c.Report.Devices
	}
	return fmt.Sprintf("XLA's CPU plugin %s (%s, %d CPU devices)", c.Plugin, c.Report.API, n)
}

// The machine, as decide sees it; tests replace them with made-up machines.
var (
	findPlugins = plugin.Find
	detectGPUs  = nvidia.Detect
	// checkPlugins turns on the child-process check of a plugin's PJRT C API before it is used.
	checkPlugins = true
	// findCPU finds and checks XLA's CPU plugin; it is called only when the choice may use it (a check
	// runs a child process, once per plugin file).
	findCPU = defaultFindCPU
)

// defaultFindCPU searches this process's places for XLA's CPU plugin and checks each found in a child
// process until one passes.
func defaultFindCPU(places xlacpu.Places) *cpuPlugin {
	s := xlacpu.Find(places)
	if len(s.Found) == 0 && places.Only {
		return &cpuPlugin{Why: fmt.Sprintf("%s%s is not a file", places.PathFrom, places.Path)}
	}
	if len(s.Found) == 0 {
		return &cpuPlugin{Why: fmt.Sprintf("no XLA CPU plugin found in %s", cpuSearchedSummary(s))}
	}
	p, r, refused := plugin.PickCPU(s, fsutil.CacheDir())
	if p == nil {
		return &cpuPlugin{Why: "no usable XLA CPU plugin (" + refused + ")"}
	}
	return &cpuPlugin{Plugin: p, Report: r}
}

// cpuSearchedSummary names the kinds of places searched for the CPU plugin, briefly.
func cpuSearchedSummary(s *xlacpu.Search) string {
	return searchedSummary(&plugin.Search{Searched: s.Searched})
}

// decide decides which backend to use for o, without creating it. See the package documentation for the
// rules. It reads no environment but GONBGPU_XLA_CPU_PLUGIN's (package internal/xlacpu's places): what the
// user set comes in o, read at the edge.
func decide(o Options) (decision, error) {
	if o.CPUDevices < 0 || o.CPUDevices > xlacpu.MaxDevices {
		return decision{}, fmt.Errorf("gonbgpu: Options.CPUDevices is %d: want a number of CPU devices from 1 to %d (0: the plugin's default)",
			o.CPUDevices, xlacpu.MaxDevices)
	}
	devices := o.CPUDevices
	env := strings.TrimSpace(o.Backend)
	envSet := env != ""
	places := xlacpu.DefaultPlaces()
	return choose(env, envSet, findPlugins(), detectGPUs(), func(explicitPath string) *cpuPlugin {
		pl := places
		if explicitPath != "" {
			pl = xlacpu.Places{Path: explicitPath, PathFrom: BackendEnv + "'s plugin=", Only: true}
		}
		c := findCPU(pl)
		if c.usable() && c.Devices == 0 {
			c.Devices = devices
		}
		return c
	})
}

// choose is decide with its inputs given, so the rules can be tested on any machine. cpu finds XLA's
// CPU plugin (only the one at path, when path is given); it is called only when the choice may use it.
func choose(env string, envSet bool, search *plugin.Search, gpus nvidia.Presence, cpu func(path string) *cpuPlugin) (decision, error) {
	env = strings.TrimSpace(env)
	explicit := envSet && env != ""
	// The plugin is checked (a child process, once per plugin) only when it may be loaded.
	wantCUDA := gpus.Count > 0 || (!gpus.Hidden && gpus.DeviceFiles > 0)
	if explicit {
		wantCUDA = strings.HasPrefix(env, "xla:cuda")
	}
	search, ccRefused := forComputeCapability(search, gpus)
	p, refused := search.Pick(gpus.DriverCUDA, wantCUDA && checkPlugins)
	refused = joinNonEmpty("; ", ccRefused, refused)
	if explicit {
		if o, ok, err := xlacpu.ParseConfig(env); ok {
			// GOMLX_BACKEND=xla:cpu: XLA's CPU plugin, found as usual or at plugin=PATH; never go-xla's
			// own search (which $PJRT_PLUGIN_LIBRARY_PATH replaces, and which guesses from file names).
			if err != nil {
				return decision{}, fmt.Errorf("gonbgpu: %s: %w", BackendEnv, err)
			}
			c := cpu(o.Plugin)
			if o.Devices > 0 && c.usable() {
				c.Devices = o.Devices
			}
			d := decision{Config: xlacpu.Config(c.Devices), Name: "xla:cpu", Explicit: true, CPU: c, Plugin: p,
				Reason: fmt.Sprintf("%s=%s is set", BackendEnv, env)}
			if c.usable() {
				d.Reason += "; " + c.describe()
			}
			return d, nil
		}
		d := decision{Config: env, Name: env, Explicit: true, Plugin: p,
			Reason: fmt.Sprintf("%s=%s is set", BackendEnv, env)}
		// "xla:cuda" with a plugin that go-xla would not find by itself: point it at the plugin found.
		if name, opts, _ := strings.Cut(env, ","); name == "xla:cuda" && p != nil {
			d.Config = "xla:" + p.Path
			if opts != "" {
				d.Config += "," + opts
			}
			d.Reason += fmt.Sprintf("; CUDA plugin %s", p)
		} else if name == "xla:cuda" && refused != "" {
			d.Reason += "; " + refused
		}
		return d, nil
	}
	switch {
	case p != nil && gpus.Count > 0:
		return decision{Config: "xla:" + p.Path, Name: "xla:cuda", Plugin: p,
			Reason: fmt.Sprintf("CUDA plugin %s and %s", p, gpus.How)}, nil
	case p != nil && !gpus.Hidden && gpus.DeviceFiles > 0:
		// NVML may count no usable GPU where CUDA finds one (a cgroup NVML misreads, an NVML older than
		// the driver, a missing libnvidia-ml): the device files are there, so CUDA itself decides.
		return decision{Config: "xla:" + p.Path, Name: "xla:cuda", Plugin: p,
			Reason: fmt.Sprintf("CUDA plugin %s; NVML finds no GPU to use (%s) but %d /dev/nvidia* device file(s) can be opened, so CUDA is tried",
				p, gpus.How, gpus.DeviceFiles)}, nil
	}
	// No GPU to use: XLA on the CPU when its plugin works, else the pure-Go backend.
	why := fmt.Sprintf("no CUDA plugin found in %s", searchedSummary(search))
	switch {
	case refused != "":
		why = fmt.Sprintf("no usable CUDA plugin (%s)", refused)
	case p != nil:
		why = fmt.Sprintf("a CUDA plugin was found (%s) but no NVIDIA GPU is visible (%s)", p.Path, gpus.How)
	}
	d := cpuFallback(why, cpu(""))
	d.Plugin = p
	if p == nil && (gpus.Count > 0 || (!gpus.Hidden && gpus.DeviceFiles > 0)) {
		// What to install for this GPU and driver: CUDA 13 for sm_75 and newer on an R580 driver, CUDA 12
		// for a P100 or V100 or an older driver.
		d.Advice = gpus.PluginAdvice()
		d.Warning = fmt.Sprintf("an NVIDIA GPU is visible (%s) but %s; to use the GPU: %s (`gonbgpu devices --plugins` shows what was found)",
			gpus.How, d.Reason, d.Advice)
	}
	return d, nil
}

// cpuFallback is the choice on the CPU, with why no GPU is used: XLA's CPU plugin when it is usable,
// else the pure-Go backend, saying why not XLA.
func cpuFallback(why string, c *cpuPlugin) decision {
	if c.usable() {
		return decision{Config: xlacpu.Config(c.Devices), Name: "xla:cpu", CPU: c,
			Reason: fmt.Sprintf("%s; using %s", why, c.describe())}
	}
	return decision{Config: "go", Name: "go", CPU: c,
		Reason: fmt.Sprintf("%s, and %s; using the pure-Go backend", why, c.Why)}
}

// forComputeCapability leaves out of a search the plugins whose CUDA release does not compile for the
// oldest GPU this process uses (CUDA 13 dropped compute capabilities below 7.5: P100s and V100s), saying
// why each was left out. Plugins of unknown CUDA, and GPUs of unknown compute capability, are kept: the
// driver check and the plugin check decide for them.
func forComputeCapability(s *plugin.Search, gpus nvidia.Presence) (*plugin.Search, string) {
	if gpus.CC == 0 {
		return s, ""
	}
	kept := &plugin.Search{Searched: s.Searched}
	var refused []string
	for _, p := range s.Found {
		major, _ := strconv.Atoi(p.CUDA)
		if why := gpus.RefusesCUDA(major); why != "" {
			refused = append(refused, fmt.Sprintf("%s is for CUDA %d: %s", p.Path, major, why))
			continue
		}
		kept.Found = append(kept.Found, p)
	}
	if len(refused) == 0 {
		return s, ""
	}
	return kept, strings.Join(refused, "; ")
}

// joinNonEmpty joins the non-empty strings with sep.
func joinNonEmpty(sep string, ss ...string) string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, sep)
}

// searchedSummary names the kinds of places searched, briefly.
func searchedSummary(s *plugin.Search) string {
	var kinds []string
	seen := map[string]bool{}
	for _, d := range s.Searched {
		k, _, _ := strings.Cut(d, ":")
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return "no place (nothing to search)"
	}
	return strings.Join(kinds, ", ")
}

// New chooses a backend for o by the rules above (see the package documentation) and creates it: a new
// backend at every call, nothing printed, as GoMLX's compute.New. An automatic choice of CUDA that fails
// to start falls back to the pure-Go backend, with the reason and a Warning; a backend named by
// o.Backend that fails is an error. To put backends side by side in one process (`gonbgpu bench
// --compare`), call it with each Backend named.
//
// With o.RequireGPU (GONBGPU_REQUIRE_GPU=1, `gonbgpu train --require-gpu`, SLURM GPU jobs), a backend
// that does not compute on a GPU is a [*RequiredGPUError] that says why and what to do.
func New(o Options) (*platform.Choice, error) {
	d, err := decide(o)
	if err != nil {
		return nil, err
	}
	return newChoice(d, o)
}

// newChoice creates the backend of a decision and describes it.
func newChoice(d decision, o Options) (*platform.Choice, error) {
	b, d, err := create(d, o)
	if err != nil {
		return nil, err
	}
	if o.RequireGPU && !platform.IsCUDA(b) {
		b.Finalize()
		return nil, &RequiredGPUError{Name: d.Name, Reason: d.Reason, Explicit: d.Explicit, Fix: d.Advice}
	}
	c := choiceOn(b)
	c.Name, c.Config, c.Reason, c.Warning, c.Job = d.Name, d.Config, d.Reason, d.Warning, o.Job
	if d.Plugin != nil {
		c.Plugin = d.Plugin.String()
	}
	switch {
	case d.CPU.usable() && d.Name == "xla:cpu":
		c.CPUPlugin = fmt.Sprintf("%s, %s, %d CPU devices", d.CPU.Plugin, d.CPU.Report.API, b.NumDevices())
	case d.CPU != nil && d.CPU.Why != "":
		c.CPUPlugin = "none usable: " + d.CPU.Why
	}
	return c, nil
}

// MustNew is [New] that panics with the error.
func MustNew(o Options) *platform.Choice {
	c, err := New(o)
	if err != nil {
		panic(err)
	}
	return c
}

var (
	defaultOnce   sync.Once
	defaultChoice *platform.Choice
	defaultErr    error
)

// Default returns this process's backend: made on the first call by [New] with the options of this
// process's environment ([OptionsFromEnvironment]) and announced, once (see [announcement]), in a
// notebook on the cell's output, elsewhere on standard error, so that it never mixes with a command's
// machine-readable output; later calls return the same Choice.
//
// Default is an edge, as a command is: cells call it (through [Backend]) and have no other way to say
// what they want than the environment the kernel was started with, so it reads the environment, once.
func Default() (*platform.Choice, error) {
	defaultOnce.Do(func() {
		o, err := OptionsFromEnvironment()
		if err != nil {
			defaultErr = err
			return
		}
		defaultChoice, defaultErr = newDefault(o, defaultLog())
	})
	return defaultChoice, defaultErr
}

// DefaultWith makes this process's backend with o, announced on log (nil: where [Default] announces),
// for a command that has read its flags and the environment itself (`gonbgpu train --require-gpu`). The
// first of Default and DefaultWith to run makes the backend; later calls of either return it, whatever
// options they are given: a process has one default backend, as a GPU holds one process's memory.
func DefaultWith(o Options, log io.Writer) (*platform.Choice, error) {
	if log == nil {
		log = defaultLog()
	}
	defaultOnce.Do(func() { defaultChoice, defaultErr = newDefault(o, log) })
	return defaultChoice, defaultErr
}

// newDefault is [New] and the announcement of its choice on log.
func newDefault(o Options, log io.Writer) (*platform.Choice, error) {
	c, err := New(o)
	if err == nil {
		announce(log, c)
	}
	return c, err
}

// MustDefault is [Default] that panics with a readable message when the backend cannot be created.
func MustDefault() *platform.Choice {
	c, err := Default()
	if err != nil {
		panic(err)
	}
	return c
}

// Backend returns the GoMLX backend of [Default], for notebook cells:
//
//	y := graph.MustExecOnce(gpu.Backend(), func(x *graph.Node) *graph.Node { return graph.Neg(x) }, x)
//
// It panics with a readable message if the backend cannot be created.
func Backend() compute.Backend { return MustDefault().Backend }

// announcement is the line that says which backend a Choice is and why, for example
//
//	gonbgpu: backend go (pure Go on the host CPU, 2 cores): no CUDA plugin found in …
//
// followed by a loud warning when a GPU is there but unused.
func announcement(c *platform.Choice) string {
	line := fmt.Sprintf("gonbgpu: backend %s (%s): %s\n", c.Name, describe(c.Backend), c.Reason)
	if c.Warning != "" {
		line += warningBlock(c.Warning)
	}
	return line
}

// defaultLog is where [Default] announces its choice: the cell's output in a notebook, else standard error.
func defaultLog() io.Writer {
	if gonbui.IsNotebook {
		return os.Stdout
	}
	return os.Stderr
}

// announce prints the backend line once per process — and, in a notebook, once per kernel session:
// GoNB runs every cell as a new process, and the same line above every cell's output would drown what
// the cell shows. A marker in GoNB's per-kernel temporary folder remembers what was announced (see
// [announceIn] for what a later cell still shows).
func announce(w io.Writer, c *platform.Choice) {
	dir := ""
	if d := os.Getenv("GONB_TMP_DIR"); d != "" && gonbui.IsNotebook {
		dir = d
	}
	announceIn(w, dir, c)
}

// backendMarker is the file, in GoNB's per-kernel folder, holding the last announcement.
const backendMarker = ".gonbgpu-backend"

// announceIn writes c's announcement to w. With dir (a kernel session's folder), a cell whose choice is
// the one already announced prints nothing — unless it computes on the CPU although a GPU is there (a
// fallback, c.Warning): then it says so in one line, so that the cell where it happens shows it; a choice
// that differs from the last one announced is announced in full, saying it changed and from what.
func announceIn(w io.Writer, dir string, c *platform.Choice) {
	line := announcement(c)
	if dir == "" {
		fmt.Fprint(w, line)
		return
	}
	marker := filepath.Join(dir, backendMarker)
	prev, err := os.ReadFile(marker)
	switch {
	case err == nil && string(prev) == line:
		if c.Warning != "" {
			fmt.Fprintf(w, "gonbgpu: WARNING: this cell computes on the CPU (backend %s), not the GPU, as announced in an earlier cell: %s\n",
				c.Name, c.Reason)
		}
		return
	case err == nil && len(prev) > 0:
		if was := announcedName(string(prev)); was != "" && was != c.Name {
			fmt.Fprintf(w, "gonbgpu: the backend changed since an earlier cell: %s, was %s\n", c.Name, was)
		} else {
			fmt.Fprintf(w, "gonbgpu: the backend's choice changed since an earlier cell\n")
		}
	}
	_ = os.WriteFile(marker, []byte(line), 0o644)
	fmt.Fprint(w, line)
}

// announcedName is the backend named by an announcement ("gonbgpu: backend NAME (…"), or "".
func announcedName(line string) string {
	rest, ok := strings.CutPrefix(line, "gonbgpu: backend ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, " ")
	return name
}

// withAutotune adds XLA's autotuning cache to the XLA flags a CUDA plugin will start with; a variable
// for tests.
var withAutotune = plugin.WithAutotuneCache

// create builds the backend for a decision, with o's settings. An automatic choice of CUDA that fails
// falls back to the pure-Go backend, saying why; an explicit one is an error.
func create(d decision, o Options) (compute.Backend, decision, error) {
	xla.EnableAutoInstall(false)
	if d.Name == "xla:cpu" {
		return createCPU(d, o)
	}
	usesPlugin := d.Plugin != nil && strings.HasPrefix(d.Config, "xla:"+d.Plugin.Path)
	if usesPlugin {
		path, err := d.Plugin.LinkDir(fsutil.CacheDir())
		if err == nil {
			d.Config = strings.Replace(d.Config, d.Plugin.Path, path, 1)
		} else if d.Explicit {
			return nil, d, err
		} else {
			fb := decision{Config: "go", Name: "go", Plugin: d.Plugin,
				Reason: fmt.Sprintf("the CUDA plugin could not be prepared (%v); using the pure-Go backend", err)}
			fb.Warning = fmt.Sprintf("CUDA was chosen (%s) but %s; fix the folder or set %s", d.Reason, fb.Reason, "GONBGPU_CACHE_DIR")
			return create(fb, o)
		}
	}
	var err error
	if usesPlugin {
		// The flags XLA starts with: the user's XLA_FLAGS, then, only for the CUDA plugin (never for
		// GOMLX_BACKEND=xla:cpu or another plugin), the autotuning cache and where libdevice and ptxas are.
		flags := os.Getenv(xlaFlagsEnv)
		flags, dir, aerr := withAutotune(d.Plugin, flags, o.AutotuneCache, fsutil.CacheDir())
		if aerr != nil {
			d.Reason += fmt.Sprintf("; no XLA autotuning cache (%v)", aerr)
		} else if dir != "" {
			d.Reason += "; XLA autotuning results kept in " + dir + " (re-runs compile faster)"
		}
		// NVIDIA's libraries, loaded as JAX loads them, before the plugin (see plugin.Plugin.NvidiaLibraries);
		// the plugin's check did the same in a child. Without the driver, the backend fails to start with a
		// line naming it.
		libs, dataDir := d.Plugin.NvidiaLibraries()
		handOverToCUDA(plugin.WithCUDADataDir(flags, dataDir))
		err = pjrtapi.PreloadCUDA(pjrtapi.DriverLibrary, libs)
	}
	var b compute.Backend
	if err == nil {
		b, err = newWithConfig(d.Config)
	}
	if err == nil {
		return b, d, nil
	}
	if d.Explicit || d.Config == "go" {
		return nil, d, fmt.Errorf("gonbgpu: cannot create backend %q (%s): %w", d.Name, d.Reason, err)
	}
	fb := decision{Config: "go", Name: "go", Plugin: d.Plugin,
		Reason: fmt.Sprintf("CUDA was found but its backend failed to start (%v); using the pure-Go backend", firstLine(err.Error()))}
	fb.Warning = fmt.Sprintf("CUDA was chosen (%s) but its backend failed to start: %v. Check the driver and plugin with "+
		"`gonbgpu devices --plugins`, or install the plugin matching the driver's CUDA version", d.Reason, firstLine(err.Error()))
	return create(fb, o)
}

// xlaFlagsEnv is the environment variable XLA reads its flags from, once, when a plugin initialises.
const xlaFlagsEnv = "XLA_FLAGS"

// handOverToCUDA puts into this process's environment what the CUDA plugin, loaded into this process
// next, reads from it as it initialises and takes no other way: XLA's flags (XLA parses XLA_FLAGS once;
// go-xla's client create options carry PJRT's named values, not XLA's flags) and CUDA_DEVICE_ORDER. It is
// the one place gonbgpu's libraries write the environment, called by create just before the plugin loads;
// a child process is handed its environment as a value instead (exec.Cmd.Env), and configuration comes
// in as [Options].
//
// CUDA numbers GPUs the way NVML and SLURM do only with CUDA_DEVICE_ORDER=PCI_BUS_ID; its default,
// FASTEST_FIRST, may put another GPU first on a node with mixed models, and then "GPU 0" would differ
// between the device table, CheckFits and the computation. The user's value wins.
func handOverToCUDA(xlaFlags string) {
	if _, set := os.LookupEnv(nvidia.DeviceOrderEnv); !set {
		os.Setenv(nvidia.DeviceOrderEnv, "PCI_BUS_ID")
	}
	os.Setenv(xlaFlagsEnv, xlaFlags)
}

// createCPU creates the XLA CPU backend of a decision. Failing that, an automatic choice falls back to
// the pure-Go backend, saying why; an explicit one (GOMLX_BACKEND=xla:cpu) is an error.
func createCPU(d decision, o Options) (compute.Backend, decision, error) {
	if !d.CPU.usable() {
		why := "no XLA CPU plugin"
		if d.CPU != nil && d.CPU.Why != "" {
			why = d.CPU.Why
		}
		return nil, d, fmt.Errorf("gonbgpu: cannot create backend %q (%s): %s.\n%s", d.Name, d.Reason, why, xlacpu.InstallHelp)
	}
	b, err := xlacpu.New(xlacpu.Options{Plugin: d.CPU.Plugin.Path, Devices: d.CPU.Devices})
	if err == nil {
		if d.CPU.Devices == 0 {
			d.Config = xlacpu.Config(b.NumDevices())
		}
		return b, d, nil
	}
	if d.Explicit {
		return nil, d, fmt.Errorf("gonbgpu: cannot create backend %q (%s): %w", d.Name, d.Reason, err)
	}
	return create(decision{Config: "go", Name: "go",
		Reason: fmt.Sprintf("%s, but it failed to start (%v); using the pure-Go backend", d.Reason, firstLine(err.Error()))}, o)
}

// newWithConfig is compute.NewWithConfig with its panics (an unknown backend name) turned into errors.
func newWithConfig(config string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return compute.NewWithConfig(config)
}

// describe gives a short description of a backend's devices.
func describe(b compute.Backend) string {
	n := b.NumDevices()
	if platform.IsPureGo(b) {
		return fmt.Sprintf("pure Go on the host CPU, %d cores", platform.HostCores())
	}
	if n == 1 {
		return "1 device: " + b.DeviceDescription(0)
	}
	return fmt.Sprintf("%d devices: %s, …", n, b.DeviceDescription(0))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
