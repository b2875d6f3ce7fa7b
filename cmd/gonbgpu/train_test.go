package main

import (
	"os"
	"syscall"
	"testing"
)

// TestSignalContext sends this process SIGTERM, then SIGINT, as SLURM and Ctrl-C do to `gonbgpu train`:
// each cancels the context, and the signal that did (what picks the exit status, 143 or 130) is handed
// over with it. It runs in the test process, where `go test -race` sees the hand-over: in the gonbgpu
// binary the CLI tests run, gomlx's worker pool starts and ends so many goroutines that the race
// detector (whose goroutine slots they reuse) no longer sees a race between the signal's goroutine and
// main once training ran.
func TestSignalContext(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		ctx, stop := signalContext()
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done() // go test's -timeout is the hang guard
		if got := caughtSignal(ctx); got != sig {
			t.Errorf("sent %v: caught %v", sig, got)
		}
		stop()
	}
	ctx, stop := signalContext()
	stop()
	if got := caughtSignal(ctx); got != nil || ctx.Err() == nil {
		t.Errorf("stopped without a signal: caught %v, context error %v", got, ctx.Err())
	}
}
