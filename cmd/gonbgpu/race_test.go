//go:build race

package main

// raceBuildFlags build the gonbgpu binary the tests run with the race detector too when the tests
// themselves run with it (`go test -race`): train.go's signal handling and the trainer's goroutines run in
// that binary, not in the test process, so a race there would otherwise go unseen.
//
// -race turns on the compiler's checkptr instrumentation, and gomlx/compute's AVX-512 matrix products
// (dot/matmul/avx512) do pointer arithmetic that checkptr rejects ("pointer arithmetic result points to
// invalid allocation", a fatal error at the first training step on a CPU with AVX-512). That is upstream
// code, not ours: checkptr is turned off for github.com/gomlx/compute/... only, and stays on everywhere
// else. The Makefile's race target passes the same flags to `go test`.
var raceBuildFlags = []string{"-race", "-gcflags=github.com/gomlx/compute/...=-d=checkptr=0"}
