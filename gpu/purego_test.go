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
	if !PreventWorkerDeadlock(b) {
		t.Fatalf("could not lift the operation limit of the pure-Go backend (%s)", b.Description())
	}
	if got := b.Description(); got != "Go Portable Compute Backend (parallelism=-1)" {
		t.Errorf("backend description %q, want parallelism=-1", got)
	}
}
