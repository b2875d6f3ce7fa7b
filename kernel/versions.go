package kernel

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// StackModules are the modules a cell's GoMLX code runs on, in the order Versions lists them.
var StackModules = []string{"github.com/gomlx/gomlx", "github.com/gomlx/compute", "github.com/gomlx/go-xla"}

// Versions says which versions of GoMLX, its compute backends and go-xla this program was built with,
// e.g. "github.com/gomlx/gomlx v0.28.16, github.com/gomlx/compute v0.1.14, github.com/gomlx/go-xla v0.4.13".
//
// Why: a cell is compiled as its own Go module, and must be built against the versions the gonbgpu checkout
// pins (the kernelspec's private module proxy sees to it); printing them makes that checkable in the cell.
func Versions() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "no build information"
	}
	found := map[string]string{}
	for _, d := range info.Deps {
		v := d.Version
		if d.Replace != nil {
			v += " => " + d.Replace.Path + " " + d.Replace.Version
		}
		found[d.Path] = v
	}
	var parts []string
	for _, m := range StackModules {
		if v, ok := found[m]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", m, v))
		}
	}
	if len(parts) == 0 {
		return "no GoMLX module in this program"
	}
	return strings.Join(parts, ", ")
}
