//go:build !linux

package stdoutpipe

import "os"

// unread cannot tell on this system: nothing to wait for.
func unread(*os.File) (int, bool) { return 0, false }
