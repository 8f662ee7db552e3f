package rng

import "math"

// Scalar float32 twins of the vector log and sincos that torch's AVX2 normal
// sampler calls (aten/src/ATen/native/cpu/avx_mathfun.h, after Julien
// Pommier's sse_mathfun, itself the Cephes logf and sinf/cosf). Redoing
// their exact sequence of float32 operations, rather than calling math.Log
// and math.Sincos, is what makes TorchCPU's output bit-identical to torch:
// these approximations differ from the correctly rounded values by up to an
// ulp or two.
//
// torch is compiled by GCC, which contracts a multiply followed by an add
// into one fused multiply-add (-ffp-contract=fast); fma32 marks those places.

// Cephes logf constants.
const (
	cephesSqrtHalf float32 = 0.707106781186547524
	cephesLogP0    float32 = 7.0376836292e-2
	cephesLogP1    float32 = -1.1514610310e-1
	cephesLogP2    float32 = 1.1676998740e-1
	cephesLogP3    float32 = -1.2420140846e-1
	cephesLogP4    float32 = 1.4249322787e-1
	cephesLogP5    float32 = -1.6668057665e-1
	cephesLogP6    float32 = 2.0000714765e-1
	cephesLogP7    float32 = -2.4999993993e-1
	cephesLogP8    float32 = 3.3333331174e-1
	cephesLogQ1    float32 = -2.12194440e-4
	cephesLogQ2    float32 = 0.693359375
)

// logCephes returns ln x for x > 0 (torch's log256_ps, one lane).
func logCephes(x float32) float32 {
	// Split x = m·2^e with m in [0.5, 1).
	b := math.Float32bits(x)
	e := float32(int32(b>>23)-0x7f) + 1
	m := math.Float32frombits(b&^0x7f800000 | 0x3f000000)
	// Keep the argument near 1: m in [√½, √2) after doubling small ones.
	if m < cephesSqrtHalf {
		e--
		m = (m - 1) + m
	} else {
		m = m - 1
	}
	z := m * m
	y := cephesLogP0
	for _, p := range [...]float32{cephesLogP1, cephesLogP2, cephesLogP3, cephesLogP4,
		cephesLogP5, cephesLogP6, cephesLogP7, cephesLogP8} {
		y = fma32(y, m, p)
	}
	y = y * m
	y = fma32(y, z, e*cephesLogQ1)
	y = y - float32(z*0.5)
	return fma32(e, cephesLogQ2, m+y)
}

// Cephes sinf/cosf constants: 4/π, π/4 split in three for an exact range
// reduction, and the two polynomials on [−π/4, π/4].
const (
	cephesFOPI  float32 = 1.27323954473516
	cephesDP1   float32 = -0.78515625
	cephesDP2   float32 = -2.4187564849853515625e-4
	cephesDP3   float32 = -3.77489497744594108e-8
	cephesSinP0 float32 = -1.9515295891e-4
	cephesSinP1 float32 = 8.3321608736e-3
	cephesSinP2 float32 = -1.6666654611e-1
	cephesCosP0 float32 = 2.443315711809948e-005
	cephesCosP1 float32 = -1.388731625493765e-003
	cephesCosP2 float32 = 4.166664568298827e-002
)

// sincosCephes returns sin x and cos x (torch's sincos256_ps, one lane).
func sincosCephes(x float32) (sin, cos float32) {
	signSin := math.Float32bits(x) & 0x80000000
	x = math.Float32frombits(math.Float32bits(x) &^ 0x80000000)

	// Octant j (made even), then x − j·π/4 in extended precision.
	j := (int32(x*cephesFOPI) + 1) &^ 1
	y := float32(j)
	if j&4 != 0 {
		signSin ^= 0x80000000
	}
	var signCos uint32
	if (j-2)&4 == 0 {
		signCos = 0x80000000
	}
	x = fma32(y, cephesDP1, x)
	x = fma32(y, cephesDP2, x)
	x = fma32(y, cephesDP3, x)

	z := x * x
	c := fma32(cephesCosP0, z, cephesCosP1)
	c = fma32(c, z, cephesCosP2)
	c = c * z
	c = fma32(c, z, -float32(z*0.5))
	c = c + 1

	s := fma32(cephesSinP0, z, cephesSinP1)
	s = fma32(s, z, cephesSinP2)
	s = s * z
	s = fma32(s, x, x)

	if j&2 == 0 { // first polynomial pair: sin from s, cos from c
		sin, cos = s, c
	} else {
		sin, cos = c, s
	}
	return math.Float32frombits(math.Float32bits(sin) ^ signSin),
		math.Float32frombits(math.Float32bits(cos) ^ signCos)
}

// fma32 returns a·b + c rounded once to float32, as the FMA instruction does.
// The product is exact in float64; the float64 sum is rounded to odd so that
// the final rounding to float32 is correct (Boldo and Melquiond, 2008).
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	// The rounding error of s (Knuth's TwoSum).
	bv := s - p
	err := (p - (s - bv)) + (float64(c) - bv)
	if err != 0 && math.Float64bits(s)&1 == 0 {
		if (err > 0) == (s > 0) {
			s = math.Float64frombits(math.Float64bits(s) + 1)
		} else {
			s = math.Float64frombits(math.Float64bits(s) - 1)
		}
	}
	return float32(s)
}
