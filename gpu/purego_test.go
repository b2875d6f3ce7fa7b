package gpu

import (
	"testing"

	"github.com/gomlx/compute"
)

func TestPreventWorkerDeadlock(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	if WorkerLimitLifted(b) {
		t.Fatalf("a fresh pure-Go backend reports its operation limit lifted (%s)", b.Description())
	}
	if !PreventWorkerDeadlock(b) {
		t.Fatalf("could not lift the operation limit of the pure-Go backend (%s)", b.Description())
	}
	if got := b.Description(); got != "Go Portable Compute Backend (parallelism=-1)" {
		t.Errorf("backend description %q, want parallelism=-1", got)
	}
	if !WorkerLimitLifted(b) {
		t.Errorf("WorkerLimitLifted is false after PreventWorkerDeadlock")
	}
}
