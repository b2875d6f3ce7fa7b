package data

import (
	"fmt"
	"os"
	"syscall"
)

// openRegular opens path for reading if it is a regular file (symbolic links followed), and refuses
// anything else without blocking: opening a named pipe waits for a writer, forever; a device such as
// /dev/zero or /dev/urandom never ends; a socket cannot be opened at all. The file is checked before it
// is opened (so that no device is opened) and again after (in case it was swapped in between), and it
// is opened non-blocking, which a regular file ignores but which keeps a pipe from hanging the open.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err // *PathError names the file.
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %s, not a regular file: not read", path, describeMode(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %s, not a regular file: not read", path, describeMode(fi.Mode()))
	}
	return f, fi, nil
}

// describeMode names the kind of a file that is not regular, for messages.
func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeIrregular != 0:
		return "an irregular file"
	}
	return "a special file"
}
