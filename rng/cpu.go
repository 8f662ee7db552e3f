package rng

import "math"

// TorchCPU reproduces torch's CPU generator: what torch.manual_seed(seed)
// followed by torch.randn / torch.rand on the CPU draws, and equally what a
// torch.Generator("cpu").manual_seed(seed) passed as generator= draws.
//
// Successive calls continue one stream, as successive torch calls do. The
// output is bit-identical to torch's x86-64 builds, whose normal sampler runs
// an AVX2 kernel with its own float32 log and sincos (reproduced in
// mathfun.go); torch on ARM (Apple silicon) uses the C library's log and
// sincos there, which may differ in the last bit.
//
// A TorchCPU is not safe for concurrent use.
type TorchCPU struct {
	mt mt19937

	// spare is the second Box-Muller value that torch's scalar normal
	// sampler caches in the generator (next_double_normal_sample); only
	// tensors of fewer than 16 elements use and refill it.
	spare    float64
	hasSpare bool
}

// NewTorchCPU returns the CPU generator as torch.manual_seed(seed) leaves it.
// Only the low 32 bits of seed matter, as in torch.
func NewTorchCPU(seed uint64) *TorchCPU {
	g := &TorchCPU{}
	g.mt.seed(seed)
	return g
}

// Uniform fills dst as torch.rand does: each element takes the low 24 bits of
// one 32-bit draw, divided by 2²⁴, so values lie in [0, 1) on a 2⁻²⁴ grid.
func (g *TorchCPU) Uniform(dst []float32) {
	for i := range dst {
		dst[i] = g.uniform24()
	}
}

// uniform24 is at::uniform_real_distribution<float>(0, 1): exact in float32.
func (g *TorchCPU) uniform24() float32 {
	return float32(g.mt.uint32()&(1<<24-1)) / (1 << 24)
}

// uniform53 is at::uniform_real_distribution<double>(0, 1): 53 bits of a
// 64-bit draw.
func (g *TorchCPU) uniform53() float64 {
	return float64(g.mt.uint64()&(1<<53-1)) / (1 << 53)
}

// Normal fills dst with standard normal samples as torch.randn does for a
// contiguous float32 tensor of len(dst) elements. torch has two samplers:
//
//   - fewer than 16 elements: one double-precision Box-Muller pair per two
//     values, drawn lazily, the spare value kept in the generator for the
//     next call (normalSmall);
//   - 16 or more: all uniforms first, then Box-Muller over blocks of 16,
//     pairing element j with j+8; a length not divisible by 16 redraws the
//     last 16 elements from fresh uniforms (normalFill).
func (g *TorchCPU) Normal(dst []float32) {
	if len(dst) < 16 {
		g.normalSmall(dst)
		return
	}
	g.normalFill(dst)
}

// normalSmall is at::normal_distribution<double>, one call per element.
func (g *TorchCPU) normalSmall(dst []float32) {
	for i := range dst {
		if g.hasSpare {
			dst[i] = float32(g.spare)
			g.hasSpare = false
			continue
		}
		u1 := g.uniform53()
		u2 := g.uniform53()
		r := math.Sqrt(-2 * math.Log1p(-u2))
		theta := 2 * math.Pi * u1
		g.spare, g.hasSpare = r*math.Sin(theta), true
		dst[i] = float32(r * math.Cos(theta))
	}
}

// normalFill is torch's normal_fill (normal_fill_AVX2 on x86).
func (g *TorchCPU) normalFill(dst []float32) {
	n := len(dst)
	g.Uniform(dst)
	for i := 0; i+16 <= n; i += 16 {
		boxMuller16(dst[i : i+16])
	}
	if n%16 != 0 {
		// The tail: redraw the last 16 uniforms, overwriting some finished
		// values of the previous block, and transform them again.
		tail := dst[n-16:]
		g.Uniform(tail)
		boxMuller16(tail)
	}
}

// boxMuller16 turns 16 uniforms in [0, 1) into 16 normals in place: u[j] and
// u[j+8] (j < 8) become r·cos θ and r·sin θ with r = √(−2 ln(1−u[j])) and
// θ = 2π·u[j+8], all in float32 as torch's AVX2 kernel computes them.
func boxMuller16(u []float32) {
	u = u[:16]
	for j := range 8 {
		u1 := 1 - u[j] // [0, 1) -> (0, 1] for the log
		theta := twoPi32 * u[j+8]
		r := float32(math.Sqrt(float64(-2 * logCephes(u1))))
		sin, cos := sincosCephes(theta)
		u[j] = r * cos
		u[j+8] = r * sin
	}
}

// twoPi32 is 2π rounded to float32, as torch's AVX2 kernel holds it.
const twoPi32 float32 = 2 * math.Pi
