package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/pysite"
)

// PathEnv names the environment variable that go-xla (and this package) search first for PJRT plugins:
// a ":"-separated list of folders.
const PathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// goXLAPluginName is the file name go-xla loads for its "cuda" plugin.
const goXLAPluginName = "pjrt_c_api_cuda_plugin.so"

// Plugin is a CUDA PJRT plugin found on this machine.
type Plugin struct {
	// Path is the plugin's shared library, as found.
	Path string

	// Source says where it was found: "PJRT_PLUGIN_LIBRARY_PATH", "go-xla" or "jax" (a Python
	// site-packages: JAX's wheels or google-ml's xla-cuda13-pjrt).
	Source string

	// Where is a human description of the place searched that held it, e.g. "$CONDA_PREFIX (/opt/conda)".
	Where string

	// NvidiaDir is the folder holding NVIDIA's CUDA libraries that the plugin needs (JAX's
	// site-packages/nvidia, or go-xla's nvidia folder), or "" if none was found beside it.
	NvidiaDir string

	// NvidiaDirs lists every NVIDIA library folder that go-xla should see through ../nvidia, NvidiaDir
	// first: a `pip install --user` over a system JAX splits NVIDIA's wheels between two site-packages,
	// and the plugin needs the libraries of both.
	NvidiaDirs []string

	// CondaLib is the lib folder of the conda environment the plugin was found in ($CONDA_PREFIX/lib),
	// where conda-forge puts NVIDIA's libraries, or "" (see [Plugin.NvidiaLibraries]).
	CondaLib string `json:",omitempty"`

	// CUDA is the CUDA major version the plugin was built for ("12", "13"), when the install says so.
	CUDA string

	// Version is the plugin package's version (jax_cuda13_pjrt's dist-info, e.g. "0.8.1"), when known.
	Version string

	// API is the plugin's PJRT C API as a child process read it (see [API]); nil until checked.
	API *API `json:",omitempty"`

	linked string // the path go-xla loads it from, once LinkDir has run
}

// String describes the plugin in one line.
func (p *Plugin) String() string {
	s := fmt.Sprintf("%s (from %s)", p.Path, p.Where)
	if p.CUDA != "" {
		s += ", CUDA " + p.CUDA
	}
	if p.Version != "" {
		s += ", version " + p.Version
	}
	if p.API != nil {
		s += ", " + p.API.String()
	}
	return s
}

// searchPlace is one place searched for plugins.
type searchPlace struct {
	dir    string // folder to look into
	source string // "PJRT_PLUGIN_LIBRARY_PATH", "go-xla" or "jax"
	where  string // human description
}

// Search is the outcome of a search for CUDA PJRT plugins: what was found, in order of preference,
// and every place that was looked into, so that "nothing found" can say where it looked.
type Search struct {
	Found    []*Plugin
	Searched []string
}

// Best returns the preferred plugin, or nil if none was found. It does not look at the driver or check
// the plugin: [Search.Pick] does.
func (s *Search) Best() *Plugin {
	if len(s.Found) == 0 {
		return nil
	}
	return s.Found[0]
}

// NotFoundMessage explains, for a user, that no plugin was found, where the search looked, and what to
// install to get one.
func (s *Search) NotFoundMessage() string {
	var b strings.Builder
	b.WriteString("no CUDA PJRT plugin found; searched:\n")
	for _, d := range s.Searched {
		fmt.Fprintf(&b, "  - %s\n", d)
	}
	b.WriteString("To use NVIDIA GPUs, install JAX's CUDA plugin in a Python environment (the plugin is found in\n" +
		"$VIRTUAL_ENV, $CONDA_PREFIX, the python3 on PATH or ~/.local):\n" +
		"    python3 -m pip install --user \"jax[cuda12]\"    (every Discovery GPU: P100, V100, A100, H100)\n" +
		"    python3 -m pip install --user \"jax[cuda13]\"    (compute capability 7.5 and newer, on an R580 driver)\n" +
		"or, on a machine with internet access, run `gonbgpu install --cuda` to use go-xla's installer,\n" +
		"or point " + PathEnv + " at a folder holding " + goXLAPluginName + ".")
	return b.String()
}

// Find searches this machine for CUDA PJRT plugins, in this order:
//
//  1. the folders in $PJRT_PLUGIN_LIBRARY_PATH;
//  2. go-xla's install folders, ~/.local/lib/go-xla and /usr/local/lib/go-xla;
//  3. Python installs: site-packages/jax_plugins/xla_cuda13 (then xla_cuda12)/xla_cuda_plugin.so (JAX's
//     wheels) and xla_plugins/xla_cuda13_pjrt/xla_gpu_pjrt.so (google-ml's xla-cuda13-pjrt) under
//     $VIRTUAL_ENV, $CONDA_PREFIX, the site-packages of the python3 on PATH, and ~/.local.
//
// It never downloads anything, and it only reads the file system (and asks python3 where its
// site-packages are).
func Find() *Search {
	return find(searchPlaces())
}

func find(places []searchPlace) *Search {
	s := &Search{}
	seen := map[string]bool{}
	for _, pl := range places {
		s.Searched = append(s.Searched, fmt.Sprintf("%s: %s", pl.where, pl.dir))
		for _, p := range pluginsIn(pl) {
			real := p.Path
			if r, err := filepath.EvalSymlinks(p.Path); err == nil {
				real = r
			}
			if seen[real] {
				continue
			}
			seen[real] = true
			s.Found = append(s.Found, p)
		}
	}
	shareNvidiaDirs(s.Found, places)
	sortPlugins(s.Found)
	return s
}

// pluginsIn lists the CUDA plugins directly in one searched place.
func pluginsIn(pl searchPlace) []*Plugin {
	var found []*Plugin
	if pl.source == "jax" {
		// JAX's wheels (jax-cuda13-pjrt: jax_plugins/xla_cuda13/xla_cuda_plugin.so), then google-ml's
		// (xla-cuda13-pjrt: xla_plugins/xla_cuda13_pjrt/xla_gpu_pjrt.so); newest CUDA first: a driver that
		// runs CUDA 13 also runs the CUDA 13 plugin best.
		jax, _ := filepath.Glob(filepath.Join(pl.dir, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so"))
		xla, _ := filepath.Glob(filepath.Join(pl.dir, "xla_plugins", "xla_cuda*_pjrt", "xla_gpu_pjrt.so"))
		sort.Sort(sort.Reverse(sort.StringSlice(jax)))
		sort.Sort(sort.Reverse(sort.StringSlice(xla)))
		for _, m := range append(jax, xla...) {
			if !isRegularFile(m) {
				continue
			}
			p := &Plugin{Path: m, Source: pl.source, Where: pl.where, CondaLib: condaLib(pl.dir)}
			if pkg := filepath.Base(filepath.Dir(m)); strings.HasSuffix(pkg, "_pjrt") {
				p.CUDA = strings.TrimSuffix(strings.TrimPrefix(pkg, "xla_cuda"), "_pjrt")
				p.Version = pysite.DistVersion(pl.dir, pkg)
			} else {
				p.CUDA = strings.TrimPrefix(pkg, "xla_cuda")
				p.Version = distInfoVersion(pl.dir, p.CUDA)
			}
			if nv := filepath.Join(pl.dir, "nvidia"); isDir(nv) {
				p.NvidiaDir = nv
				p.NvidiaDirs = []string{nv}
			}
			found = append(found, p)
		}
		return found
	}
	matches, _ := filepath.Glob(filepath.Join(pl.dir, "pjrt_c_api_*_plugin.so"))
	sort.Strings(matches)
	for _, m := range matches {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "pjrt_c_api_"), "_plugin.so")
		if !strings.Contains(strings.ToLower(name), "cuda") || !isRegularFile(m) {
			continue
		}
		p := &Plugin{Path: m, Source: pl.source, Where: pl.where}
		if nv := filepath.Join(filepath.Dir(filepath.Dir(m)), "nvidia"); isDir(nv) {
			p.NvidiaDir = nv
			p.NvidiaDirs = []string{nv}
			// go-xla's installer lays CUDA 13's libraries out under nvidia/cu13, CUDA 12's per library.
			if isDir(filepath.Join(nv, "cu13")) {
				p.CUDA = "13"
			} else if isDir(filepath.Join(nv, "cuda_runtime")) {
				p.CUDA = "12"
			}
		}
		found = append(found, p)
	}
	return found
}

// searchPlaces lists the places to search, in order.
func searchPlaces() []searchPlace {
	var places []searchPlace
	for _, d := range filepath.SplitList(os.Getenv(PathEnv)) {
		if d != "" {
			places = append(places, searchPlace{d, "PJRT_PLUGIN_LIBRARY_PATH", "$" + PathEnv})
		}
	}
	home, _ := os.UserHomeDir()
	var goxla []string
	if home != "" {
		goxla = append(goxla, filepath.Join(home, ".local", "lib", "go-xla"))
	}
	goxla = append(goxla, "/usr/local/lib/go-xla")
	for _, d := range goxla {
		places = append(places,
			searchPlace{d, "go-xla", "go-xla install"},
			searchPlace{filepath.Join(d, "nvidia"), "go-xla", "go-xla install"})
	}
	for _, sp := range pysite.Dirs(home) {
		places = append(places, searchPlace{sp.Dir, "jax", sp.Where})
	}
	return places
}

// LinkDir returns a folder that go-xla can load the plugin from: one holding
// lib/pjrt_c_api_cuda_plugin.so, with NVIDIA's libraries at ../nvidia from it, since the plugin's RPATH
// and go-xla's checks look for them there.
//
// Plugins already laid out that way (go-xla's own installs, or $PJRT_PLUGIN_LIBRARY_PATH) are used
// where they are. A JAX plugin is linked, not copied, into cacheDir/pjrt/<hash of its path>; the links are
// remade only if they point elsewhere, so calling LinkDir on every start is cheap and safe.
// It returns the path to the plugin file go-xla must load.
func (p *Plugin) LinkDir(cacheDir string) (string, error) {
	if filepath.Base(p.Path) == goXLAPluginName {
		p.linked = p.Path
		return p.Path, nil
	}
	sum := sha256.Sum256([]byte(p.Path))
	root := filepath.Join(cacheDir, "pjrt", hex.EncodeToString(sum[:6]))
	lib := filepath.Join(root, "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		return "", fmt.Errorf("linking CUDA plugin %s: %w", p.Path, err)
	}
	target := filepath.Join(lib, goXLAPluginName)
	if err := ensureSymlink(p.Path, target); err != nil {
		return "", fmt.Errorf("linking CUDA plugin %s: %w", p.Path, err)
	}
	switch {
	case len(p.NvidiaDirs) > 1:
		if err := mergeNvidiaDirs(p.NvidiaDirs, filepath.Join(root, "nvidia")); err != nil {
			return "", fmt.Errorf("linking NVIDIA libraries %s: %w", strings.Join(p.NvidiaDirs, ", "), err)
		}
	case p.NvidiaDir != "":
		if err := ensureSymlink(p.NvidiaDir, filepath.Join(root, "nvidia")); err != nil {
			return "", fmt.Errorf("linking NVIDIA libraries %s: %w", p.NvidiaDir, err)
		}
	}
	p.linked = target
	return target, nil
}

// ensureSymlink makes link point to target, atomically replacing a link that points elsewhere.
func ensureSymlink(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	if _, err := os.Stat(filepath.Join(link, mergedStamp)); err == nil {
		// A tree mergeNvidiaDirs made when the NVIDIA libraries were split over several folders.
		if err := os.RemoveAll(link); err != nil {
			return err
		}
	}
	tmp := fmt.Sprintf("%s.tmp%d", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func isRegularFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
