package nn

import "math"

// Float32 versions of exp and erf for the elementwise hot loops. They avoid
// the float64 round trip of package math and stay within a few float32 ulps
// of it (relative error below 5e-7 on every input; see TestFastMath).

// exp32 returns e^x in float32 (Cephes expf): x = n·ln2 + r with |r| ≤ ln2/2,
// e^r by a degree-6 polynomial, then the exponent bits of 2^n.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
		round = 12582912 // 1.5·2^23: adding it rounds to an integer
	)
	if !(x > -87 && x < 88) { // also NaN
		return float32(math.Exp(float64(x)))
	}
	n := (x*log2e + round) - round // nearest integer to x/ln2
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// sigmoid32 is 1/(1 + e^−x).
func sigmoid32(x float32) float32 { return 1 / (1 + exp32(-x)) }

// erf32 returns erf(x) in float32: a rational approximation x·P(x²)/Q(x²)
// on [−4, 4] (the one of Eigen and XLA), ±1 beyond, where float32 erf is ±1.
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

// Exp32 returns eˣ in float32 (exp32, Cephes' expf): relative error below
// 3e-7 on [−86, 87] (see TestFastMath), package math's value beyond. It is
// for elementwise loops that would otherwise spend their time in float64,
// such as grad's backward passes.
func Exp32(x float32) float32 { return exp32(x) }

// Erf32 returns erf(x) in float32 (erf32): absolute error below 5e-7.
func Erf32(x float32) float32 { return erf32(x) }

// Sigmoid32 returns σ(x) = 1/(1 + e^−x) in float32 (sigmoid32): relative
// error below 5e-7 on [−80, 80].
func Sigmoid32(x float32) float32 { return sigmoid32(x) }

// tanh32 is tanh(x) = 1 − 2/(e^{2x} + 1), exact to float32 rounding in
// absolute terms.
func tanh32(x float32) float32 { return 1 - 2/(exp32(2*x)+1) }
