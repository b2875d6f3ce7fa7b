package augment

import "math/bits"

// rng is a SplitMix64 generator: tiny, fast, a plain value (no allocation per image), and with output
// fixed by its definition rather than by a library version, so augmentations stay the same when Go's
// math/rand implementation changes.
type rng struct{ state uint64 }

const golden = 0x9e3779b97f4a7c15

// mix64 is SplitMix64's finaliser, a bijective hash whose every output bit depends on every input bit.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// newRNG derives the generator of one example from (seed, epoch, index). Hashing each component in
// turn (rather than, say, adding them) keeps nearby triples such as (s, 1, 0) and (s, 0, 1) unrelated.
func newRNG(seed int64, epoch, index int) rng {
	h := mix64(uint64(seed) + golden)
	h = mix64((h + golden) ^ uint64(epoch))
	h = mix64((h + golden) ^ uint64(index))
	return rng{state: h}
}

func (r *rng) uint64() uint64 {
	r.state += golden
	return mix64(r.state)
}

// float64 returns a uniform value in [0,1).
func (r *rng) float64() float64 { return float64(r.uint64()>>11) * (1.0 / (1 << 53)) }

// intn returns a uniform value in [0,n), n > 0, using Lemire's multiply-shift (bias < n/2^64, negligible
// for image sizes).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.uint64(), uint64(n))
	return int(hi)
}
