package stdoutpipe

import (
	"io"
	"os"
	"testing"
	"time"
)

// Drain waits for the reader to take what was written to the pipe, and no longer than asked when nobody
// reads; a regular file has nothing to wait for.
func TestDrain(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.Write([]byte("epoch 1\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if n := Drain(w, 30*time.Millisecond); n != 8 {
		t.Fatalf("Drain with no reader: %d bytes left, want 8", n)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("Drain with no reader returned after %v, before its 30 ms", el)
	}
	read := make(chan time.Time)
	go func() {
		time.Sleep(50 * time.Millisecond)
		io.ReadFull(r, make([]byte, 8))
		read <- time.Now()
	}()
	if n := Drain(w, 5*time.Second); n != 0 {
		t.Fatalf("Drain with a reader: %d bytes left", n)
	}
	done := time.Now()
	if at := <-read; done.Before(at.Add(-10 * time.Millisecond)) {
		t.Errorf("Drain returned %v before the reader took the bytes", at.Sub(done))
	}

	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("text")
	if n := Drain(f, time.Hour); n != 0 {
		t.Errorf("Drain of a regular file: %d", n)
	}
}
