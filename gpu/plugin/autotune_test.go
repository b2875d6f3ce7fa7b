package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakePlugin writes a library-like file of size bytes with name (if not "") at offset at, and returns it.
func fakePlugin(t *testing.T, size, at int, name string) *Plugin {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + i%7) // no accidental match
	}
	copy(data[at:], name)
	path := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return &Plugin{Path: path, Source: "jax"}
}

func TestFileContainsAcrossReads(t *testing.T) {
	old := pluginScanChunk
	pluginScanChunk = 16
	defer func() { pluginScanChunk = old }()
	needle := autotuneFlagName
	for _, at := range []int{0, 5, 14, 15, 16, 17, 31, 40, 100 - len(needle)} {
		p := fakePlugin(t, 100, at, needle)
		got, err := fileContains(p.Path, []byte(needle))
		if err != nil || !got {
			t.Errorf("needle at %d: found=%v err=%v", at, got, err)
		}
	}
	p := fakePlugin(t, 100, 50, needle[:len(needle)-1]) // one byte short
	if got, err := fileContains(p.Path, []byte(needle)); err != nil || got {
		t.Errorf("truncated needle: found=%v err=%v", got, err)
	}
}

// stubFlagProbe makes the child-process check of a flag answer verdicts[name] (verdictUnknown when
// absent), and counts the calls.
func stubFlagProbe(t *testing.T, verdicts map[string]flagVerdict) *int {
	t.Helper()
	calls := 0
	old := probeXLAFlag
	probeXLAFlag = func(config, name, xlaFlags, setting string) (flagVerdict, string) {
		calls++
		if !strings.HasPrefix(config, "xla:") || !strings.HasPrefix(setting, "--"+name+"=") {
			t.Errorf("probe called with config %q setting %q", config, setting)
		}
		return verdicts[name], "stub: no GPU"
	}
	t.Cleanup(func() { probeXLAFlag = old })
	return &calls
}

// enableAutotune calls WithAutotuneCache as package gpu's create does: with this test's XLA_FLAGS and
// AutotuneCacheEnv as the values, handing the flags it returns to XLA_FLAGS (t.Setenv, undone after the
// test), so the cases below read as a user sees them.
func enableAutotune(t *testing.T, p *Plugin, cacheDir string) (string, error) {
	t.Helper()
	flags, dir, err := WithAutotuneCache(p, os.Getenv("XLA_FLAGS"), os.Getenv(AutotuneCacheEnv), cacheDir)
	t.Setenv("XLA_FLAGS", flags)
	return dir, err
}

// TestWithAutotuneCacheTakesValues: the flags come from the caller and go back to it; the process's
// XLA_FLAGS is neither read nor written, so that only the one place that creates a backend hands flags to XLA.
func TestWithAutotuneCacheTakesValues(t *testing.T) {
	stubFlagProbe(t, map[string]flagVerdict{autotuneFlagName: verdictAccepted})
	t.Setenv("XLA_FLAGS", "--xla_in_the_environment=1")
	t.Setenv(AutotuneCacheEnv, "off") // ignored: the setting is the caller's
	cache := t.TempDir()
	flags, dir, err := WithAutotuneCache(fakePlugin(t, 4096, 1000, autotuneFlagName), "--xla_given=1", "", cache)
	want := filepath.Join(cache, "xla-autotune")
	if err != nil || dir != want || flags != "--xla_given=1 --"+autotuneFlagName+"="+want {
		t.Fatalf("flags %q dir %q err %v", flags, dir, err)
	}
	if got := os.Getenv("XLA_FLAGS"); got != "--xla_in_the_environment=1" {
		t.Fatalf("the process's XLA_FLAGS changed to %q", got)
	}
}

func TestAutotuneCache(t *testing.T) {
	t.Setenv(AutotuneCacheEnv, "")
	cache := t.TempDir()
	stubFlagProbe(t, map[string]flagVerdict{autotuneFlagName: verdictAccepted})

	t.Run("plugin knows the flag", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "--xla_gpu_enable_latency_hiding_scheduler=true")
		dir, err := enableAutotune(t, fakePlugin(t, 4096, 1000, autotuneFlagName), cache)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(cache, "xla-autotune")
		if dir != want {
			t.Errorf("dir %q, want %q", dir, want)
		}
		if got := os.Getenv("XLA_FLAGS"); got != "--xla_gpu_enable_latency_hiding_scheduler=true --"+autotuneFlagName+"="+want {
			t.Errorf("XLA_FLAGS = %q: the user's flags must be kept and the cache flag added", got)
		}
		if st, err := os.Stat(want); err != nil || !st.IsDir() {
			t.Errorf("cache folder not created: %v", err)
		}
	})

	t.Run("plugin without the flag", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		dir, err := enableAutotune(t, fakePlugin(t, 4096, 0, ""), cache)
		if err != nil || dir != "" {
			t.Errorf("dir %q err %v, want nothing", dir, err)
		}
		if got := os.Getenv("XLA_FLAGS"); got != "" {
			t.Errorf("XLA_FLAGS = %q: an unknown flag would abort XLA", got)
		}
	})

	t.Run("the user's folder wins", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "--"+autotuneFlagName+"=/scratch/me/tune")
		dir, err := enableAutotune(t, fakePlugin(t, 4096, 10, autotuneFlagName), cache)
		if err != nil || dir != "/scratch/me/tune" {
			t.Errorf("dir %q err %v", dir, err)
		}
		if got := os.Getenv("XLA_FLAGS"); strings.Count(got, autotuneFlagName) != 1 {
			t.Errorf("XLA_FLAGS = %q", got)
		}
	})

	t.Run("off and override", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		t.Setenv(AutotuneCacheEnv, "off")
		if dir, err := enableAutotune(t, fakePlugin(t, 4096, 10, autotuneFlagName), cache); err != nil || dir != "" {
			t.Errorf("off: dir %q err %v", dir, err)
		}
		mine := filepath.Join(t.TempDir(), "tune")
		t.Setenv(AutotuneCacheEnv, mine)
		if dir, err := enableAutotune(t, fakePlugin(t, 4096, 10, autotuneFlagName), cache); err != nil || dir != mine {
			t.Errorf("override: dir %q err %v", dir, err)
		}
	})

	t.Run("unusable folder", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		blocker := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv(AutotuneCacheEnv, filepath.Join(blocker, "tune")) // a folder inside a file: cannot exist
		dir, err := enableAutotune(t, fakePlugin(t, 4096, 10, autotuneFlagName), cache)
		if err == nil || dir != "" || !strings.Contains(err.Error(), AutotuneCacheEnv) {
			t.Errorf("dir %q err %v: want an error naming %s", dir, err, AutotuneCacheEnv)
		}
		if got := os.Getenv("XLA_FLAGS"); got != "" {
			t.Errorf("XLA_FLAGS changed to %q", got)
		}
	})

	t.Run("answer cached per library", func(t *testing.T) {
		p := fakePlugin(t, 4096, 10, autotuneFlagName)
		c := t.TempDir()
		if ok, err := pluginKnowsFlag(p.Path, autotuneFlagName, c); err != nil || !ok {
			t.Fatalf("ok %v err %v", ok, err)
		}
		if _, err := os.Stat(filepath.Join(c, "plugin-flags.json")); err != nil {
			t.Errorf("no cache file: %v", err)
		}
		if _, err := pluginKnowsFlag(filepath.Join(t.TempDir(), "missing.so"), autotuneFlagName, c); err == nil ||
			!strings.Contains(err.Error(), "missing.so") {
			t.Errorf("missing plugin: err %v, want one naming the file", err)
		}
	})
}

// TestAutotuneFlagMustBeAccepted: a flag's name inside the plugin is not enough (XLA keeps removed flags'
// names); only a child run that XLA did not reject adds it, the next known flag is tried, and no verdict
// adds nothing.
func TestAutotuneFlagMustBeAccepted(t *testing.T) {
	t.Setenv(AutotuneCacheEnv, "")
	newer := autotuneFlagNames[1]
	both := func(t *testing.T) *Plugin {
		p := fakePlugin(t, 8192, 100, autotuneFlagName)
		data, _ := os.ReadFile(p.Path)
		copy(data[4000:], newer)
		os.WriteFile(p.Path, data, 0o644)
		return p
	}

	t.Run("reserved name, rejected", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		stubFlagProbe(t, map[string]flagVerdict{autotuneFlagName: verdictRejected})
		dir, err := enableAutotune(t, fakePlugin(t, 4096, 100, autotuneFlagName), t.TempDir())
		if err != nil || dir != "" || os.Getenv("XLA_FLAGS") != "" {
			t.Fatalf("dir %q err %v XLA_FLAGS %q: a rejected flag must not be added", dir, err, os.Getenv("XLA_FLAGS"))
		}
	})
	t.Run("the other flag", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		stubFlagProbe(t, map[string]flagVerdict{autotuneFlagName: verdictRejected, newer: verdictAccepted})
		dir, err := enableAutotune(t, both(t), t.TempDir())
		if err != nil || dir == "" || !strings.Contains(os.Getenv("XLA_FLAGS"), "--"+newer+"="+dir) {
			t.Fatalf("dir %q err %v XLA_FLAGS %q", dir, err, os.Getenv("XLA_FLAGS"))
		}
	})
	t.Run("no verdict", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		stubFlagProbe(t, nil)
		dir, err := enableAutotune(t, fakePlugin(t, 4096, 100, autotuneFlagName), t.TempDir())
		if err == nil || dir != "" || os.Getenv("XLA_FLAGS") != "" || !strings.Contains(err.Error(), "could not be checked") {
			t.Fatalf("dir %q err %v XLA_FLAGS %q", dir, err, os.Getenv("XLA_FLAGS"))
		}
	})
	t.Run("verdict kept", func(t *testing.T) {
		t.Setenv("XLA_FLAGS", "")
		calls := stubFlagProbe(t, map[string]flagVerdict{autotuneFlagName: verdictAccepted})
		p, c := fakePlugin(t, 4096, 100, autotuneFlagName), t.TempDir()
		for range 2 {
			t.Setenv("XLA_FLAGS", "")
			if dir, err := enableAutotune(t, p, c); err != nil || dir == "" {
				t.Fatalf("dir %q err %v", dir, err)
			}
		}
		if *calls != 1 {
			t.Fatalf("the child ran %d times for one library, want 1", *calls)
		}
	})
}

func TestXLARejectsFlagMessage(t *testing.T) {
	// What XLA prints (parse_flags_from_env.cc) before exiting.
	msg := "F0000 parse_flags_from_env.cc:234] Unknown flags in XLA_FLAGS: --xla_gpu_per_fusion_autotune_cache_dir=/tmp/x"
	if !xlaRejectsFlag(msg, autotuneFlagName) || xlaRejectsFlag("Unknown flags in XLA_FLAGS: --xla_other=1", autotuneFlagName) ||
		xlaRejectsFlag("CUDA_ERROR_NO_DEVICE", autotuneFlagName) {
		t.Fatal("xlaRejectsFlag misreads XLA's message")
	}
}

// TestFlagProbeChildRuns runs the real child (this test binary again): with a plugin that cannot load, it
// must give no verdict rather than accept or reject the flag.
func TestFlagProbeChildRuns(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "pjrt_c_api_cuda_plugin.so")
	v, detail := probeXLAFlag("xla:"+missing+",preallocate=false", autotuneFlagName, "", "--"+autotuneFlagName+"=/tmp/x")
	if v != verdictUnknown || !strings.Contains(detail, "flag probe") {
		t.Fatalf("verdict %v detail %q", v, detail)
	}
}
