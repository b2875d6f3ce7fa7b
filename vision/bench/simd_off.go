//go:build !goexperiment.simd

package bench

// SIMD reports whether this binary was built with GOEXPERIMENT=simd, without which the pure-Go backend's
// matrix products lose their AVX2/AVX512 kernels and run several times slower.
const SIMD = false
