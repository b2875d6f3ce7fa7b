package plugin

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/fsutil"
)

// Choosing among the CUDA plugins found: by what the driver runs and what go-xla can call, then by
// version, and making every NVIDIA library folder of the Python installs visible to the one chosen.

// distInfoVersion reads the version of the pip package that installed jax_plugins/xla_cuda<cuda> in a
// site-packages folder: jax_cuda<cuda>_pjrt (the PJRT plugin's own package), else jax_cuda<cuda>_plugin.
// It returns "" when neither has a readable METADATA.
func distInfoVersion(sitePackages, cuda string) string {
	for _, pkg := range []string{"jax_cuda" + cuda + "_pjrt", "jax_cuda" + cuda + "_plugin"} {
		dirs, _ := filepath.Glob(filepath.Join(sitePackages, pkg+"-*.dist-info"))
		slices.SortFunc(dirs, func(a, b string) int { return compareVersions(distVersion(b), distVersion(a)) })
		for _, d := range dirs {
			if v := metadataVersion(filepath.Join(d, "METADATA")); v != "" {
				return v
			}
		}
	}
	return ""
}

// distVersion is the version in a dist-info folder's name, "jax_cuda13_pjrt-0.8.1.dist-info" → "0.8.1".
func distVersion(dir string) string {
	name := strings.TrimSuffix(filepath.Base(dir), ".dist-info")
	_, v, _ := strings.Cut(name, "-")
	return v
}

// metadataVersion reads the "Version:" header of a wheel's METADATA file.
func metadataVersion(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // end of the headers
		}
		if v, ok := strings.CutPrefix(line, "Version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// compareVersions compares dotted versions numerically ("0.10.0" > "0.9.2"); a non-numeric part compares
// as text, and an unknown ("") version is the oldest.
func compareVersions(a, b string) int {
	if a == "" || b == "" {
		return strings.Compare(a, b) // "" first
	}
	pa, pb := strings.FieldsFunc(a, isVersionSep), strings.FieldsFunc(b, isVersionSep)
	for i := range max(len(pa), len(pb)) {
		if i >= len(pa) {
			return -1
		}
		if i >= len(pb) {
			return 1
		}
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		switch {
		case errA == nil && errB == nil:
			if na != nb {
				return na - nb
			}
		default:
			if c := strings.Compare(pa[i], pb[i]); c != 0 {
				return c
			}
		}
	}
	return 0
}

func isVersionSep(r rune) bool { return r == '.' || r == '-' || r == '+' || r == '_' }

// sortPlugins orders plugins by preference: $PJRT_PLUGIN_LIBRARY_PATH's first (the user's explicit
// choice), then go-xla's installs, then JAX's; among those of one kind, the newest CUDA, then the newest
// package version, then the search order. So of several JAX installs, the newest wins wherever it is.
func sortPlugins(ps []*Plugin) {
	rank := map[string]int{"PJRT_PLUGIN_LIBRARY_PATH": 0, "go-xla": 1, "jax": 2}
	slices.SortStableFunc(ps, func(a, b *Plugin) int {
		if d := rank[a.Source] - rank[b.Source]; d != 0 {
			return d
		}
		if a.Source == "PJRT_PLUGIN_LIBRARY_PATH" {
			return 0
		}
		if c := compareVersions(b.CUDA, a.CUDA); c != 0 {
			return c
		}
		return compareVersions(b.Version, a.Version)
	})
}

// shareNvidiaDirs gives every JAX plugin the NVIDIA library folders of every site-packages searched, its
// own first: pip installs NVIDIA's wheels where it installs the package that asked for them, so
// `pip install --user "jax[cuda12]"` over a system JAX splits them between two folders.
func shareNvidiaDirs(ps []*Plugin, places []searchPlace) {
	var all []string
	for _, pl := range places {
		if pl.source != "jax" {
			continue
		}
		if nv := filepath.Join(pl.dir, "nvidia"); isDir(nv) && !slices.Contains(all, nv) {
			all = append(all, nv)
		}
	}
	for _, p := range ps {
		if p.Source != "jax" {
			continue
		}
		dirs := slices.Clone(p.NvidiaDirs)
		for _, d := range all {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
		p.NvidiaDirs = dirs
		if p.NvidiaDir == "" && len(dirs) > 0 {
			p.NvidiaDir = dirs[0]
		}
	}
}

// cudaMajor returns a plugin's CUDA major version, or 0 when unknown.
func (p *Plugin) cudaMajor() int {
	n, err := strconv.Atoi(p.CUDA)
	if err != nil {
		return 0
	}
	return n
}

// Pick returns the preferred plugin this machine can use, or nil, with why others were refused:
// a plugin for a newer CUDA than the driver runs (driverCUDA, NVML's 1000×major+10×minor; 0 unknown)
// fails to start, so a CUDA 12 plugin is taken on a CUDA 12 driver even when a CUDA 13 one is installed;
// and with check, a plugin whose PJRT C API go-xla cannot call (see [API.compatible]), or that fails
// [CheckCUDA] on this machine, is refused before it is loaded in this process.
func (s *Search) Pick(driverCUDA int, check bool) (*Plugin, string) {
	var refused []string
	for _, p := range s.Found {
		if m := p.cudaMajor(); m > 0 && driverCUDA > 0 && m*1000 > driverCUDA {
			refused = append(refused, fmt.Sprintf("%s needs CUDA %d but the driver runs CUDA %d.%d (update the driver, or install jax[cuda%d])",
				p.Path, m, driverCUDA/1000, (driverCUDA%1000)/10, driverCUDA/1000))
			continue
		}
		if check {
			api, err := pjrtCheck(p, fsutil.CacheDir())
			if api.StructSize > 0 {
				p.API = &api
			}
			if err != nil {
				refused = append(refused, fmt.Sprintf("%s is refused: %v", p.Path, err))
				continue
			}
			if r := CheckCUDA(p, thisMachine(), fsutil.CacheDir()); !r.Usable() {
				refused = append(refused, fmt.Sprintf("%s is refused: its check (compile and run a convolution, a dot, a reduction and an exp) failed: %s", p.Path, r.Err))
				continue
			}
		}
		return p, strings.Join(refused, "; ")
	}
	return nil, strings.Join(refused, "; ")
}

// thisMachine is what Pick keys CUDA verdicts with (see [ThisMachine]). A variable for tests.
var thisMachine = ThisMachine

// mergedStamp names the file, inside a merged nvidia folder, that lists the folders it was made from.
const mergedStamp = ".gonbgpu-merged-from"

// mergeNvidiaDirs makes dst a folder tree mirroring srcs, with a symbolic link per file: the first
// folder's file wins where two hold the same path (NVIDIA's CUDA 13 wheels share nvidia/cu13/lib). The
// tree is rebuilt only when the list of folders changed; it is built aside and renamed into place.
// dst is gonbgpu's own cache: a link or merged tree there is replaced, anything else is left alone.
func mergeNvidiaDirs(srcs []string, dst string) error {
	want := strings.Join(srcs, "\n")
	if data, err := os.ReadFile(filepath.Join(dst, mergedStamp)); err == nil && string(data) == want {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp%d", dst, os.Getpid())
	_ = os.RemoveAll(tmp)
	for _, src := range srcs {
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			out := filepath.Join(tmp, rel)
			if d.IsDir() {
				return os.MkdirAll(out, 0o755)
			}
			if _, err := os.Lstat(out); err == nil {
				return nil // an earlier folder has it
			}
			return os.Symlink(path, out)
		})
		if err != nil {
			_ = os.RemoveAll(tmp)
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, mergedStamp), []byte(want), 0o644); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if fi, err := os.Lstat(dst); err == nil {
		_, stampErr := os.Stat(filepath.Join(dst, mergedStamp))
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			err = os.Remove(dst)
		case fi.IsDir() && stampErr == nil:
			err = os.RemoveAll(dst)
		default:
			err = fmt.Errorf("%s exists and was not made by gonbgpu", dst)
		}
		if err != nil {
			_ = os.RemoveAll(tmp)
			return err
		}
	}
	return os.Rename(tmp, dst)
}
