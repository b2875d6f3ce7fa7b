package stdoutpipe

import (
	"os"

	"golang.org/x/sys/unix"
)

// unread is the number of bytes in the pipe f not read yet (FIONREAD, named TIOCINQ in x/sys/unix, which
// Linux answers on either end of a pipe).
func unread(f *os.File) (int, bool) {
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ)
	return n, err == nil
}
