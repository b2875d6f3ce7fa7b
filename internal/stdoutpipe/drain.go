// Package stdoutpipe keeps a notebook cell's text and displays in the order the program made them.
//
// GoNB forwards a cell program's standard output, a pipe, to Jupyter from one goroutine and its displays,
// sent on another pipe, from another: a display sent right after some text can reach the notebook
// first, and stand above text printed before it (a progress bar above the lines printed before
// training). Waiting, before sending a display, until GoNB has read everything written to standard
// output makes the order the program's own.
package stdoutpipe

import (
	"os"
	"time"
)

// Drain waits until the pipe behind f holds no unread bytes (its reader has taken all that was written),
// for at most max, and returns the number of bytes still unread (0 when drained). It returns 0 at once
// when f is not a pipe or the system cannot tell (then there is nothing to wait for).
func Drain(f *os.File, max time.Duration) int {
	if f == nil {
		return 0
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return 0
	}
	deadline := time.Now().Add(max)
	for {
		n, ok := unread(f)
		if !ok || n == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// Stdout drains standard output for at most 100 ms: what a display function calls before sending.
func Stdout() { Drain(os.Stdout, 100*time.Millisecond) }
