package plugin

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// checkPlugin asks a child (see child.go) to check the plugin at path as one of platform ("cpu", "cuda"):
// load it, compile and run a small training-like graph and compare it with the pure-Go backend's results
// (xlacpu.CheckPlatform); env is added to the child's environment. An error says the child gave no answer
// (a crash, a timeout). A variable for tests.
var checkPlugin = func(platform, path string, env ...string) (xlacpu.Report, error) {
	a := ask("check "+platform+" "+path, env...)
	if a.Err != nil || a.TimedOut {
		return xlacpu.Report{}, a.failure("checking it")
	}
	var r xlacpu.Report
	if err := json.Unmarshal([]byte(a.Stdout), &r); err != nil {
		return r, fmt.Errorf("the check of the plugin answered %q: %w", strings.TrimSpace(a.Stdout), err)
	}
	return r, nil
}

// CheckCPU checks an XLA CPU plugin before this process loads it: in a child process, which loads it,
// asks its platform and compiles and runs a small training-like graph (see xlacpu.Check). The verdict is
// kept in <cacheDir>/plugin-cpu.json per plugin file (its path, size and time), since every notebook
// cell is a new process; a check that could not run (a crash, a timeout) is not kept.
func CheckCPU(path, cacheDir string) (xlacpu.Report, error) {
	return pluginCached(path, xlacpu.CheckVersion, cacheDir, "plugin-cpu.json", func() (xlacpu.Report, error) {
		return checkPlugin(xlacpu.Name, path)
	})
}

// PickCPU returns the first plugin of s that passes [CheckCPU], with its report; refused says, for each
// plugin passed over, why ("" when none was).
func PickCPU(s *xlacpu.Search, cacheDir string) (p *xlacpu.Plugin, r xlacpu.Report, refused string) {
	var why []string
	for _, c := range s.Found {
		if err := pjrtapi.Inspect(c.Path); err != nil {
			why = append(why, err.Error())
			continue
		}
		rep, err := CheckCPU(c.Path, cacheDir)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: the check failed: %v", c, err))
		case !rep.Usable():
			why = append(why, fmt.Sprintf("%s: %s", c, rep.Err))
		default:
			return c, rep, strings.Join(why, "; ")
		}
	}
	return nil, xlacpu.Report{}, strings.Join(why, "; ")
}
