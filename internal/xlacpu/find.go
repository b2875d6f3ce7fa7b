// Package xlacpu is XLA's CPU PJRT plugin as gonbgpu uses it: where pip put it, whether gonbgpu's go-xla
// can run it, and GoMLX backends on it with a chosen number of CPU devices.
//
// XLA's CPU plugin compiles a graph the way the CUDA plugin does (StableHLO, XLA's passes, the SPMD
// partitioner and its collectives) and runs it on the host's cores. It exposes several CPU devices
// (4 unless told otherwise), so multi-device data parallelism runs, for real, on a machine with no GPU.
//
// The plugin is loaded into the process and registered with go-xla under the name "cpu" (see [New]),
// rather than handed to go-xla by path: go-xla decides whether a plugin is a CPU or a CUDA one from words
// in its name, and a path such as ~/gonbgpu/.venv/… or ~/cuda-course/… would mislead it. What the
// plugin is, is asked of the plugin itself (its PJRT platform, see [Check]).
package xlacpu

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/pysite"
)

// PluginEnv names the environment variable that points gonbgpu at a CPU plugin file. The installer
// records the plugin it found into the kernelspec with it, so that notebook cells use the same one
// wherever Jupyter was started; people need not set it.
const PluginEnv = "GONBGPU_XLA_CPU_PLUGIN"

// Plugin is an XLA CPU PJRT plugin found on this machine.
type Plugin struct {
	// Path is the plugin's shared library.
	Path string

	// Package is the pip distribution that installed it ("fastatomstruct-xla-cpu"), or "" for a plain
	// file (a go-xla install, a folder in $PJRT_PLUGIN_LIBRARY_PATH, $GONBGPU_XLA_CPU_PLUGIN).
	Package string

	// Version is the package's version, when known.
	Version string

	// Where describes the place searched that held it, e.g. "gonbgpu's .venv (/home/u/gonbgpu/.venv)".
	Where string
}

func (p *Plugin) String() string {
	s := p.Path
	if p.Package != "" {
		s += " (" + p.Package
		if p.Version != "" {
			s += " " + p.Version
		}
		s += ")"
	}
	return s
}

// layout is where a pip package puts the plugin inside site-packages.
type layout struct {
	pkg  string // the distribution's name on PyPI
	dist string // its dist-info prefix
	file string // the plugin, relative to site-packages
}

// layouts are the PyPI wheels known to carry XLA's CPU plugin, the one gonbgpu pins first (see
// install/python/requirements.txt and README "Backends" for why that one). Any of them is checked before
// use; the others are found so that a machine with only one of them computes with it (xla-cpu-pjrt 0.0.1
// has PJRT C API 0.81, older than go-xla's 0.104, but its table holds every function go-xla is made to call).
var layouts = []layout{
	{"fastatomstruct-xla-cpu", "fastatomstruct_xla_cpu", "fastatomstruct_xla_cpu/libpjrt_cpu.so"},
	{"lammps-jax-pjrt-cpu", "lammps_jax_pjrt_cpu", "lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so"},
	{"xla-cpu-pjrt", "xla_cpu_pjrt", "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so"},
}

// folderNames are the file names of a CPU plugin in a plain folder: go-xla's installs and
// $PJRT_PLUGIN_LIBRARY_PATH.
var folderNames = []string{"pjrt_c_api_cpu_plugin.so", "pjrt-plugin-cpu.so", "pjrt_plugin_cpu.so"}

// Places says where [Find] looks.
type Places struct {
	// Path, when set, is a plugin file to use before any other ($GONBGPU_XLA_CPU_PLUGIN).
	Path string

	// PathFrom says where Path comes from, for messages (default "$GONBGPU_XLA_CPU_PLUGIN").
	PathFrom string

	// Only, when set, searches Path alone: the user named the plugin to use.
	Only bool

	// Checkouts are gonbgpu checkouts whose .venv (`make venv`) to search first.
	Checkouts []string

	// Home is the user's home folder, for ~/.local (pip --user) and ~/.local/lib/go-xla.
	Home string

	// PluginPath lists folders of $PJRT_PLUGIN_LIBRARY_PATH.
	PluginPath []string
}

// CheckoutEnv names the variable the kernelspec sets to the gonbgpu checkout cells import from.
const CheckoutEnv = "GONBGPU_CHECKOUT"

// DefaultPlaces are the places of this process: $GONBGPU_XLA_CPU_PLUGIN, the checkouts of
// $GONBGPU_CHECKOUT (a notebook cell's, set by the kernelspec), of this executable and of the current
// folder, the user's home and $PJRT_PLUGIN_LIBRARY_PATH.
func DefaultPlaces() Places {
	home, _ := os.UserHomeDir()
	var checkouts []string
	if c := os.Getenv(CheckoutEnv); c != "" {
		checkouts = append(checkouts, c)
	}
	if exe, err := os.Executable(); err == nil {
		if c := checkoutAbove(filepath.Dir(exe)); c != "" && !slices.Contains(checkouts, c) {
			checkouts = append(checkouts, c)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if c := checkoutAbove(wd); c != "" && !slices.Contains(checkouts, c) {
			checkouts = append(checkouts, c)
		}
	}
	return Places{Path: os.Getenv(PluginEnv), Checkouts: checkouts, Home: home,
		PluginPath: filepath.SplitList(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"))}
}

// checkoutAbove returns the gonbgpu checkout at or above dir (a go.mod for github.com/gonbgpu/gonbgpu),
// or "".
func checkoutAbove(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
					if f[1] == "github.com/gonbgpu/gonbgpu" {
						return d
					}
					break
				}
			}
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Search is what [Find] found, in order of preference, and every place it looked into.
type Search struct {
	Found    []*Plugin
	Searched []string
}

// Find lists the CPU plugins in places, in order of preference: the explicit path, then the
// site-packages of gonbgpu's .venv, $VIRTUAL_ENV, $CONDA_PREFIX, the python3 on PATH and ~/.local (in
// each, the packages of [layouts] in their order), then $PJRT_PLUGIN_LIBRARY_PATH and go-xla's install
// folders. It only reads the file system (and asks python3 where its site-packages are); it loads nothing.
func Find(pl Places) *Search {
	s := &Search{}
	seen := map[string]bool{}
	add := func(p *Plugin) {
		real := p.Path
		if r, err := filepath.EvalSymlinks(p.Path); err == nil {
			real = r
		}
		if !seen[real] {
			seen[real] = true
			s.Found = append(s.Found, p)
		}
	}
	if pl.Path != "" {
		from := pl.PathFrom
		if from == "" {
			from = "$" + PluginEnv
		}
		s.Searched = append(s.Searched, fmt.Sprintf("%s: %s", from, pl.Path))
		if isFile(pl.Path) {
			abs, _ := filepath.Abs(pl.Path)
			add(&Plugin{Path: abs, Where: from})
		}
	}
	if pl.Only {
		return s
	}
	for _, site := range pysite.Dirs(pl.Home, pl.Checkouts...) {
		s.Searched = append(s.Searched, fmt.Sprintf("%s: %s", site.Where, site.Dir))
		for _, l := range layouts {
			if f := filepath.Join(site.Dir, l.file); isFile(f) {
				add(&Plugin{Path: f, Package: l.pkg, Version: pysite.DistVersion(site.Dir, l.dist), Where: site.Where})
			}
		}
	}
	var folders [][2]string
	for _, d := range pl.PluginPath {
		if d != "" {
			folders = append(folders, [2]string{d, "$PJRT_PLUGIN_LIBRARY_PATH"})
		}
	}
	if pl.Home != "" {
		folders = append(folders, [2]string{filepath.Join(pl.Home, ".local", "lib", "go-xla"), "go-xla install"})
	}
	folders = append(folders, [2]string{"/usr/local/lib/go-xla", "go-xla install"})
	for _, f := range folders {
		s.Searched = append(s.Searched, fmt.Sprintf("%s: %s", f[1], f[0]))
		for _, name := range folderNames {
			if p := filepath.Join(f[0], name); isFile(p) {
				add(&Plugin{Path: p, Where: f[1]})
			}
		}
	}
	return s
}

// NotFoundMessage says that no CPU plugin was found, where the search looked, and how to install one.
func (s *Search) NotFoundMessage() string {
	var b strings.Builder
	b.WriteString("no XLA CPU plugin found; searched:\n")
	for _, d := range s.Searched {
		fmt.Fprintf(&b, "  - %s\n", d)
	}
	b.WriteString(InstallHelp)
	return b.String()
}

// InstallHelp says how to install the pinned CPU plugin.
const InstallHelp = "To compile with XLA on the CPU, install the pinned plugin: `make venv` in the gonbgpu checkout, or\n" +
	"    python3 -m pip install --user --require-hashes -r install/python/requirements.txt"

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
