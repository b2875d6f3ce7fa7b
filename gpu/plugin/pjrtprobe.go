package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
)

// API is what a plugin's GetPjrtApi says about itself (see package internal/pjrtapi).
type API = pjrtapi.API

// The PJRT C API gonbgpu's go-xla speaks, and what it needs of a plugin's table (see package pjrtapi).
const (
	goXLAPJRTMajor      = pjrtapi.GoXLAMajor
	goXLAPJRTMinor      = pjrtapi.GoXLAMinor
	goXLAPJRTLastCall   = pjrtapi.GoXLALastCall
	goXLAPJRTNeededSize = pjrtapi.GoXLANeededSize
)

// answerPJRT is the child's side of the PJRT check: it loads the plugin and prints its [API] as JSON.
func answerPJRT(path string, stdout, stderr io.Writer) int {
	api, _, err := pjrtapi.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gonbgpu: cannot load %s: %v\n", path, err)
		return 3
	}
	_ = json.NewEncoder(stdout).Encode(api)
	return 0
}

// probePJRTPlugin asks a child (see child.go) to load the plugin and report its API. A variable for tests.
// env is added to the child's environment (see [Plugin.childEnv]).
var probePJRTPlugin = func(path string, env ...string) (API, error) {
	a := ask("pjrt "+path, env...)
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
		return probePJRTPlugin(p.Path, p.childEnv()...)
	})
	if err != nil {
		return api, err
	}
	return api, api.Compatible()
}
