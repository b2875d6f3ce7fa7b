package gpu

import (
	"reflect"
	"strings"

	"github.com/gomlx/compute"
)

// PreventWorkerDeadlock lifts the limit on how many operations the pure-Go backend runs at once, which is
// what its "parallelism=-1" option does, without that option's message on standard output. It returns
// whether it could (false for other backends, or if the backend's internals changed).
//
// Why: the pure-Go backend (github.com/gomlx/compute v0.1.2) runs independent graph operations concurrently,
// each holding one of its 2×cores worker slots, and every matrix product (DotGeneral) then waits for free
// slots for its own workers. When as many DotGenerals as there are slots are ready at once, each waits for
// the others and the process hangs: on a 2-core machine that is 4, which the backward pass of a ResNet
// reaches (kernel gradients are off the critical path and pile up). With no limit on operations the
// matrix products still use at most GOMAXPROCS workers each, and never wait for a slot. Training speed
// measured the same.
func PreventWorkerDeadlock(b compute.Backend) bool {
	workers, ok := pureGoWorkers(b)
	if !ok {
		return false
	}
	set := workers.MethodByName("SetMaxParallelism")
	if !set.IsValid() || set.Type().NumIn() != 1 || set.Type().In(0).Kind() != reflect.Int {
		return false
	}
	set.Call([]reflect.Value{reflect.ValueOf(-1)})
	return WorkerLimitLifted(b)
}

// WorkerLimitLifted reports whether b is the pure-Go backend with its limit on concurrent operations lifted
// (PreventWorkerDeadlock, or a "parallelism=-1" configuration): graphs built for it need no scheduling
// barriers against the deadlock described there, and independent matrix products can overlap.
func WorkerLimitLifted(b compute.Backend) bool {
	workers, ok := pureGoWorkers(b)
	if !ok {
		return false
	}
	get := workers.MethodByName("MaxParallelism")
	if !get.IsValid() || get.Type().NumIn() != 0 || get.Type().NumOut() != 1 || get.Type().Out(0).Kind() != reflect.Int {
		return false
	}
	return get.Call(nil)[0].Int() == -1
}

// pureGoWorkers returns the pure-Go backend's worker pool (its exported Workers field), or false for other
// backends or if the backend's internals changed.
func pureGoWorkers(b compute.Backend) (reflect.Value, bool) {
	if !IsPureGo(b) {
		return reflect.Value{}, false
	}
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	workers := v.Elem().FieldByName("Workers")
	if !workers.IsValid() || workers.Kind() != reflect.Pointer || workers.IsNil() {
		return reflect.Value{}, false
	}
	return workers, true
}

// configurePureGo applies PreventWorkerDeadlock unless the configuration sets the parallelism itself.
func configurePureGo(b compute.Backend, config string) {
	if IsPureGo(b) && !strings.Contains(config, "parallelism=") {
		PreventWorkerDeadlock(b)
	}
}
