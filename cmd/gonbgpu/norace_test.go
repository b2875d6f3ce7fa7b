//go:build !race

package main

// raceBuildFlags are the extra `go build` flags of the gonbgpu binary the tests run: none without -race
// (see race_test.go).
var raceBuildFlags []string
