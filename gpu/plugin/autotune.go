package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// XLA compiles a training step for a GPU by autotuning its fusions (trying kernel configurations and timing
// them), which is most of the ~12 s a ResNet-18 takes to reach its first step. A notebook cell that trains
// again is a new process and would autotune again. XLA can keep the results in a folder, one file per
// fusion and GPU model (see XLA's "Persisted autotuning" document): a re-run then only compiles. gonbgpu
// turns that on for CUDA plugins that know the flag.

// autotuneFlagName is XLA's flag for a persistent per-fusion autotuning cache ("Persisted autotuning").
const autotuneFlagName = "xla_gpu_per_fusion_autotune_cache_dir"

// autotuneFlagNames are the autotuning-cache flags gonbgpu knows, in order of preference: XLA versions
// differ in which they read, and XLA keeps removed flags' names as reserved strings, so a name inside the
// plugin proves nothing; each is tried in a child process before it is used (see flagAccepted).
var autotuneFlagNames = []string{autotuneFlagName, "xla_gpu_experimental_autotuner_cache_dir"}

// AutotuneCacheEnv names the environment variable that controls the autotuning cache: "off" disables it,
// a folder replaces the default (<cache dir>/xla-autotune).
const AutotuneCacheEnv = "GONBGPU_XLA_AUTOTUNE_CACHE"

// pluginScanChunk is the read size used to look for a flag's name in a plugin library (a variable so
// tests can make a name straddle two reads).
var pluginScanChunk = 8 << 20

// WithAutotuneCache returns xlaFlags (the XLA_FLAGS a CUDA plugin will start with) with XLA's
// autotuning-cache flag added for p, and the folder used; the caller hands the flags to XLA before the
// plugin loads (XLA reads them once, when it starts). setting is what the user said of the cache
// (AutotuneCacheEnv's value): "" for <cacheDir>/xla-autotune, "off", or a folder. The flags come back
// unchanged, with the folder "", when the cache is off, or no flag is known to be accepted by this plugin;
// unchanged with their own folder when xlaFlags already name one (the user's choice wins).
//
// An unknown flag in XLA_FLAGS makes XLA abort, and a flag's name inside the plugin's library proves
// nothing (XLA keeps removed flags' names), so a flag is only added after a child process ran a small
// computation on this plugin with it set and XLA did not reject it; the verdict is kept per library in
// <cacheDir>/plugin-flags.json. An error says why no flag was added; the flags then come back unchanged.
//
// It takes and returns values, and writes no environment: several backends may be prepared in one
// process, and only the one place that creates a backend knows when the flags must reach XLA.
func WithAutotuneCache(p *Plugin, xlaFlags, setting, cacheDir string) (flags, dir string, err error) {
	for _, name := range autotuneFlagNames {
		if dir, ok := flagValue(xlaFlags, name); ok {
			return xlaFlags, dir, nil
		}
	}
	setting = strings.TrimSpace(setting)
	if strings.EqualFold(setting, "off") || p == nil {
		return xlaFlags, "", nil
	}
	dir = setting
	if dir == "" {
		dir = filepath.Join(cacheDir, "xla-autotune")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return xlaFlags, "", err
	}
	var unsure []string
	for _, name := range autotuneFlagNames {
		known, err := pluginKnowsFlag(p.Path, name, cacheDir)
		if err != nil {
			return xlaFlags, "", err
		}
		if !known {
			continue // not even the name: certainly not accepted
		}
		if err := checkWritableDir(dir); err != nil {
			return xlaFlags, "", fmt.Errorf("XLA autotuning cache %s: %w (set %s to another folder, or to off)", dir, err, AutotuneCacheEnv)
		}
		if strings.ContainsAny(dir, " \t\n") {
			return xlaFlags, "", fmt.Errorf("XLA autotuning cache %q: XLA_FLAGS cannot hold a path with spaces (set %s to another folder, or to off)", dir, AutotuneCacheEnv)
		}
		accepted, err := flagAccepted(p, name, dir, cacheDir, xlaFlags)
		if err != nil {
			unsure = append(unsure, fmt.Sprintf("--%s could not be checked: %v", name, err))
			continue
		}
		if accepted {
			return strings.TrimSpace(xlaFlags + " --" + name + "=" + dir), dir, nil
		}
	}
	if len(unsure) > 0 {
		return xlaFlags, "", fmt.Errorf("%s", strings.Join(unsure, "; "))
	}
	return xlaFlags, "", nil
}

// flagValue returns the value of --name=value in an XLA_FLAGS string.
func flagValue(flags, name string) (string, bool) {
	for _, f := range strings.Fields(flags) {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkWritableDir creates dir if needed and checks that a file can be written in it.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// pluginKnowsFlag reports whether the library at path contains name (XLA registers its flags by name, so a
// plugin that knows a flag holds its name as a string). Plugins are hundreds of MB: the answer is kept in
// <cacheDir>/plugin-flags.json, keyed by the library's path, size and modification time.
func pluginKnowsFlag(path, name, cacheDir string) (bool, error) {
	return pluginCached(path, name, cacheDir, "plugin-flags.json", func() (bool, error) {
		found, err := fileContains(path, []byte(name))
		if err != nil {
			return false, fmt.Errorf("CUDA plugin %s: %w", path, err)
		}
		return found, nil
	})
}

// fileContains reports whether the file at path contains needle, reading it in chunks.
func fileContains(path string, needle []byte) (bool, error) {
	if len(needle) == 0 {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, pluginScanChunk+len(needle)-1)
	carry := 0 // bytes kept from the previous read, so a needle across two reads is found
	for {
		n, err := io.ReadFull(f, buf[carry:])
		window := buf[:carry+n]
		if bytes.Contains(window, needle) {
			return true, nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		carry = min(len(needle)-1, len(window))
		copy(buf, window[len(window)-carry:])
	}
}
