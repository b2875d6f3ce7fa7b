package gpu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// go-xla calls a PJRT plugin through the function table (PJRT_Api) of the pjrt_c_api.h it was built with,
// and never compares it with the plugin's. A plugin built against an older header has a shorter table:
// reading past its end crashes in C, where no fallback is possible. So before a plugin is loaded in this
// process, a child process loads it and reads its API version and table size, and a plugin whose table
// lacks a function go-xla calls, or whose major version differs, is refused with a message.

// PJRTAPI is what a plugin's GetPjrtApi says about itself.
type PJRTAPI struct {
	Major, Minor int
	StructSize   int // PJRT_Api.struct_size: how many bytes of the function table the plugin fills
}

func (a PJRTAPI) String() string { return fmt.Sprintf("PJRT C API %d.%d", a.Major, a.Minor) }

const (
	// goXLAPJRTMajor and goXLAPJRTMinor are PJRT_API_MAJOR and PJRT_API_MINOR of the pjrt_c_api.h in
	// go-xla v0.4.13 (pjrt/pjrt_c_api.h).
	goXLAPJRTMajor = 0
	goXLAPJRTMinor = 104

	// goXLAPJRTLastCall is the last PJRT_Api function, in table order, that go-xla v0.4.13's pjrt package
	// calls (C.call_PJRT_…); goXLAPJRTNeededSize is the table size that includes it: the head (struct_size,
	// extension_start, a 24-byte PJRT_Api_Version) plus one 8-byte pointer per function up to and including
	// it. TestPJRTRequirementMatchesGoXLA recomputes both from go-xla's sources.
	goXLAPJRTLastCall   = "PJRT_Buffer_Bitcast"
	goXLAPJRTNeededSize = 8 + 8 + 24 + 8*(131+1)
)

// Compatible says why go-xla cannot use a plugin with this API, or nil when it can.
func (a PJRTAPI) Compatible() error {
	if a.Major != goXLAPJRTMajor {
		return fmt.Errorf("its %s is not the major version gonbgpu's go-xla speaks (%d.%d)", a, goXLAPJRTMajor, goXLAPJRTMinor)
	}
	if a.StructSize < goXLAPJRTNeededSize {
		return fmt.Errorf("its %s is too old for gonbgpu's go-xla (built for %d.%d): its function table (%d bytes) ends before %s, "+
			"which go-xla calls (%d bytes needed); install a newer jax CUDA plugin", a, goXLAPJRTMajor, goXLAPJRTMinor,
			a.StructSize, goXLAPJRTLastCall, goXLAPJRTNeededSize)
	}
	return nil
}

// pjrtProbeEnv, when set in a process's environment, makes that process (any binary that links this
// package) load the named plugin, print its [PJRTAPI] as JSON, and exit: see init below.
const pjrtProbeEnv = "GONBGPU_PJRT_PROBE"

func init() {
	if path := os.Getenv(pjrtProbeEnv); path != "" {
		os.Exit(runPJRTProbeChild(path, os.Stdout, os.Stderr))
	}
}

// runPJRTProbeChild is the child's side of the probe.
func runPJRTProbeChild(path string, stdout, stderr io.Writer) int {
	api, err := readPJRTAPI(path)
	if err != nil {
		fmt.Fprintf(stderr, "gonbgpu: cannot load %s: %v\n", path, err)
		return 3
	}
	_ = json.NewEncoder(stdout).Encode(api)
	return 0
}

// probeTimeout bounds the child: a CUDA plugin is hundreds of MB, read from a network file system.
var probeTimeout = 90 * time.Second

// probePJRTPlugin runs this executable again as a child that loads the plugin and reports its API. A
// variable for tests.
var probePJRTPlugin = func(path string) (PJRTAPI, error) {
	exe, err := os.Executable()
	if err != nil {
		return PJRTAPI{}, fmt.Errorf("cannot re-run this program to check the plugin: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), pjrtProbeEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 && len(msg) > 400 {
			msg = msg[i+1:]
		}
		if ctx.Err() != nil {
			return PJRTAPI{}, fmt.Errorf("loading it took more than %s", probeTimeout)
		}
		return PJRTAPI{}, fmt.Errorf("loading it failed (%v): %s", err, msg)
	}
	var api PJRTAPI
	if err := json.Unmarshal(out, &api); err != nil {
		return PJRTAPI{}, fmt.Errorf("the check of the plugin answered %q: %w", strings.TrimSpace(string(out)), err)
	}
	return api, nil
}

// pjrtCheck checks a plugin's API before it is loaded in this process, with the answer kept in
// <cache dir>/plugin-pjrt.json keyed by the library's path, size and time (loading a plugin takes seconds,
// and every notebook cell is a new process). It returns the API read and, when the plugin must not be
// used, why.
func pjrtCheck(p *Plugin, cacheDir string) (PJRTAPI, error) {
	api, err := pluginCached(p.Path, "", cacheDir, "plugin-pjrt.json", func() (PJRTAPI, error) {
		return probePJRTPlugin(p.Path)
	})
	if err != nil {
		return api, err
	}
	return api, api.Compatible()
}
