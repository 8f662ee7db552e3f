package grad

import "math"

// Float32 exp and erf for the elementwise loops of backward passes, which
// would otherwise spend most of their time in package math's float64
// functions. They are nn's (unexported) fast paths, repeated here.

// exp32 is eˣ in float32, within 2 ulp of the rounded exact value over the
// whole float32 range, several times faster than math.Exp (attention's
// softmax calls it L² times per head). It is Cephes' expf: x = n·ln2 + r
// with |r| ≤ ln2/2, eʳ by a degree-7 polynomial, 2ⁿ by building the float's
// exponent bits.
func exp32(x float32) float32 {
	switch {
	case x > 88.72283: // e^x overflows float32
		return float32(math.Inf(1))
	case x < -87.33654: // below the smallest normal float32: flush to 0
		return 0
	case x != x:
		return x
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375 // ln2 split in two for an exact first step
		c2    = -2.12194440e-4
		magic = 12582912 // 1.5·2²³: adding it rounds to an integer
	)
	f := x*log2e + magic
	n := int32(math.Float32bits(f)) - 0x4B400000 // round(x/ln2)
	fn := f - magic
	r := x - fn*c1 - fn*c2
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y := p*z + r + 1
	if n < -126 { // 2ⁿ is subnormal: scale in two steps
		return y * math.Float32frombits(uint32(n+127+64)<<23) * (1.0 / (1 << 64))
	}
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// expScaled sets d[i] = exp32(d[i]·scale − shift), except that arguments
// below −87.33 give the smallest normal float32 (≈1.2e-38) instead of 0:
// the loop has no branches, which makes it about twice as fast as calling
// exp32 per element. Softmax sums never notice the difference.
func expScaled(d []float32, scale, shift float32) {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
		magic = 12582912
	)
	for i, v := range d {
		x := v*scale - shift
		if x < -87.33654 {
			x = -87.33654
		}
		if x > 88.72283 {
			x = 88.72283
		}
		f := x*log2e + magic
		n := int32(math.Float32bits(f)) - 0x4B400000
		fn := f - magic
		r := x - fn*c1 - fn*c2
		z := r * r
		p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
		d[i] = (p*z + r + 1) * math.Float32frombits(uint32(n+127)<<23)
	}
}

// sigmoid32 is 1/(1 + e^−x).
func sigmoid32(x float32) float32 { return 1 / (1 + exp32(-x)) }

// erf32 returns erf(x) in float32: a rational approximation x·P(x²)/Q(x²)
// on [−4, 4] (the one of Eigen and XLA, as nn uses), ±1 beyond.
func erf32(x float32) float32 {
	x = min(max(x, -4), 4)
	x2 := x * x
	p := float32(-2.72614225801306e-10)
	p = p*x2 + 2.77068142495902e-08
	p = p*x2 + -2.10102402082508e-06
	p = p*x2 + -5.69250639462346e-05
	p = p*x2 + -7.34990630326855e-04
	p = p*x2 + -2.95459980854025e-03
	p = p*x2 + -1.60960333262415e-02
	q := float32(-1.45660718464996e-05)
	q = q*x2 + -2.13374055278905e-04
	q = q*x2 + -1.68282697438203e-03
	q = q*x2 + -7.37332916720468e-03
	q = q*x2 + -1.42647390514189e-02
	return x * p / q
}
