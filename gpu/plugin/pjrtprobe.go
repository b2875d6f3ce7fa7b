package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// go-xla calls a PJRT plugin through the function table (PJRT_Api) of the pjrt_c_api.h it was built with,
// and never compares it with the plugin's. A plugin built against an older header has a shorter table:
// reading past its end crashes in C, where no fallback is possible. So before a plugin is loaded in this
// process, a child process loads it and reads its API version and table size, and a plugin whose table
// lacks a function go-xla calls, or whose major version differs, is refused with a message.

// API is what a plugin's GetPjrtApi says about itself.
type API struct {
	Major, Minor int
	StructSize   int // PJRT_Api.struct_size: how many bytes of the function table the plugin fills
}

func (a API) String() string { return fmt.Sprintf("PJRT C API %d.%d", a.Major, a.Minor) }

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

// compatible says why go-xla cannot use a plugin with this API, or nil when it can.
func (a API) compatible() error {
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

// answerPJRT is the child's side of the PJRT check: it loads the plugin and prints its [API] as JSON.
func answerPJRT(path string, stdout, stderr io.Writer) int {
	api, err := readPJRTAPI(path)
	if err != nil {
		fmt.Fprintf(stderr, "gonbgpu: cannot load %s: %v\n", path, err)
		return 3
	}
	_ = json.NewEncoder(stdout).Encode(api)
	return 0
}

// probePJRTPlugin asks a child (see child.go) to load the plugin and report its API. A variable for tests.
var probePJRTPlugin = func(path string) (API, error) {
	a := ask("pjrt " + path)
	if a.Err != nil || a.TimedOut {
		return API{}, a.failure("loading it")
	}
	var api API
	if err := json.Unmarshal([]byte(a.Stdout), &api); err != nil {
		return API{}, fmt.Errorf("the check of the plugin answered %q: %w", strings.TrimSpace(a.Stdout), err)
	}
	return api, nil
}

// pjrtCheck checks a plugin's API before it is loaded in this process, with the answer kept in
// <cache dir>/plugin-pjrt.json keyed by the library's path, size and time (loading a plugin takes seconds,
// and every notebook cell is a new process). It returns the API read and, when the plugin must not be
// used, why.
func pjrtCheck(p *Plugin, cacheDir string) (API, error) {
	api, err := pluginCached(p.Path, "", cacheDir, "plugin-pjrt.json", func() (API, error) {
		return probePJRTPlugin(p.Path)
	})
	if err != nil {
		return api, err
	}
	return api, api.compatible()
}
