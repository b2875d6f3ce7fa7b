// Package pjrtapi reads what a PJRT plugin says about itself, its C API version and the size of its
// function table, and says whether gonbgpu's go-xla can call it.
//
// go-xla calls a PJRT plugin through the function table (PJRT_Api) of the pjrt_c_api.h it was built with,
// and never compares it with the plugin's. A plugin built against an older header has a shorter table:
// reading past its end crashes in C, where no fallback is possible. So a plugin's table is read (in a
// child process, see package gpu/plugin) before it is used, and one that lacks a function go-xla calls,
// or whose major version differs, is refused with a message.
package pjrtapi

import "fmt"

// API is what a plugin's GetPjrtApi says about itself.
type API struct {
	Major, Minor int
	StructSize   int // PJRT_Api.struct_size: how many bytes of the function table the plugin fills
}

func (a API) String() string { return fmt.Sprintf("PJRT C API %d.%d", a.Major, a.Minor) }

const (
	// GoXLAMajor and GoXLAMinor are PJRT_API_MAJOR and PJRT_API_MINOR of the pjrt_c_api.h in go-xla
	// v0.4.13 (pjrt/pjrt_c_api.h).
	GoXLAMajor = 0
	GoXLAMinor = 104

	// GoXLALastCall is the last PJRT_Api function, in table order, that GoMLX's XLA backend and gonbgpu
	// reach through go-xla v0.4.13's pjrt package (PJRT_Executable_GetCompiledMemoryStats, slot 96: every
	// compilation asks for it); GoXLANeededSize is the table size that includes it: the head (struct_size,
	// extension_start, a 24-byte PJRT_Api_Version) plus one 8-byte pointer per function up to and including
	// it. go-xla wraps later functions too (PJRT_Buffer_Bitcast, slot 131, behind pjrt.Buffer.Bitcast), but
	// nothing here calls them, and requiring them would refuse plugins that run all gonbgpu does.
	// TestRequiredTableCoversExactlyTheCalls recomputes both from go-xla's and gonbgpu's sources.
	GoXLALastCall   = "PJRT_Executable_GetCompiledMemoryStats"
	GoXLANeededSize = 8 + 8 + 24 + 8*(96+1)
)

// Compatible says why go-xla cannot use a plugin with this API, or nil when it can: the major version
// must be go-xla's, and the table must reach the last function go-xla is made to call. A newer minor version is
// fine: PJRT only appends to the table within a major version.
func (a API) Compatible() error {
	if a.Major != GoXLAMajor {
		return fmt.Errorf("its %s is not the major version gonbgpu's go-xla speaks (%d.%d)", a, GoXLAMajor, GoXLAMinor)
	}
	if a.StructSize < GoXLANeededSize {
		return fmt.Errorf("its %s is too old for gonbgpu's go-xla (built for %d.%d): its function table (%d bytes) ends before %s, "+
			"which go-xla calls (%d bytes needed); install a newer plugin", a, GoXLAMajor, GoXLAMinor,
			a.StructSize, GoXLALastCall, GoXLANeededSize)
	}
	return nil
}
