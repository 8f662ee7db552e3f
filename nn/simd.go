package nn

import (
	"math"

	"github.com/x448/float16"
)

// Vector loops of the elementwise hot paths. Each runs an AVX2 kernel
// (exp_amd64.s) over the largest multiple of 8 values when the CPU has one,
// and the plain Go loop, which is its reference, over the rest. The
// exponential of softmax, the busiest, also has an AVX-512 kernel for
// multiples of 16.

// useAVX512 enables expSubAVX512; benchmarks turn it off to compare.
var useAVX512 = hasAVX512

// SIMD names the vector kernels nn's elementwise loops run on this CPU and
// build: "avx512" (softmax's exponential in AVX-512, the rest AVX2), "avx2"
// or "go" (the plain Go loops). They round differently (FMA, lane counts),
// so with the GEMM path (gemm.Kernel) it decides a training run's bits.
func SIMD() string {
	switch {
	case useAVX512:
		return "avx512"
	case hasAVX2:
		return "avx2"
	}
	return "go"
}

// expSub replaces each v of row by e^(v−m) and returns their sum. The
// kernel clamps v−m to at most 88 (e^88 ≈ 1.65e38, near float32's largest):
// softmax and SiLU, its users, only ask for e^x with x ≤ 0 or don't care.
func expSub(row []float32, m float32) float32 {
	var s float32
	if n := len(row) &^ 15; useAVX512 && n > 0 {
		s = expSubAVX512(&row[0], n, m)
		row = row[n:]
	}
	if n := len(row) &^ 7; hasAVX2 && n > 0 {
		s += expSubAVX2(&row[0], n, m)
		row = row[n:]
	}
	for i, v := range row {
		e := exp32(v - m)
		row[i] = e
		s += e
	}
	return s
}

// ExpSub replaces each v of row by e^(v−m) and returns their sum, with the
// AVX-512 or AVX2 kernel where the CPU has one: the exponential of a softmax
// row whose maximum is m. Every v−m is taken as at most 88 (e⁸⁸ ≈ 1.65e38,
// near float32's largest) by the kernels; below, results are within 4e-7
// relative error (see TestSIMD).
func ExpSub(row []float32, m float32) float32 { return expSub(row, m) }

// MaxOf returns the largest value of row, or −∞ if row is empty, with the
// AVX2 kernel where the CPU has one.
func MaxOf(row []float32) float32 {
	if len(row) == 0 {
		return float32(math.Inf(-1))
	}
	return maxOf(row)
}

// siluAffine sets dst[i] = SiLU(src[i]·scale + shift).
func siluAffine(dst, src []float32, scale, shift float32) {
	src = src[:len(dst)]
	if n := len(dst) &^ 7; hasAVX2 && n > 0 {
		siluAVX2(&dst[0], &src[0], n, scale, shift)
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		o := v*scale + shift
		dst[i] = o * sigmoid32(o)
	}
}

// siluGrad adds dy[i]·SiLU′(x[i]) to dx[i], with siluGradGo's bits on every
// path (see exactGrad).
func siluGrad(dx, dy, x []float32) { exactGrad(dx, dy, x, siluGradAVX2, siluGradGo) }

// exactGrad runs a backward loop dx[i] += dy[i]·f′(x[i]): kernel, an AVX2
// kernel that rounds every operation as ref does (so it gives the same bits),
// where the CPU has one, and ref, the Go loop, over the tail and over any
// block of 8 the kernel leaves (a value whose exponential takes exp32's slow
// path).
func exactGrad(dx, dy, x []float32, kernel func(dx, dy, x *float32, n int) int, ref func(dx, dy, x []float32)) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	for len(dx) > 0 {
		if n := len(dx) &^ 7; hasAVX2 && n > 0 {
			done := kernel(&dx[0], &dy[0], &x[0], n)
			dx, dy, x = dx[done:], dy[done:], x[done:]
		}
		k := min(len(dx), 8) // the tail, or the block the kernel left
		ref(dx[:k], dy[:k], x[:k])
		dx, dy, x = dx[k:], dy[k:], x[k:]
	}
}

// siluGradGo is siluGrad's reference loop: SiLU′(v) = σ(v)·(1 + v·(1 − σ(v))).
func siluGradGo(dx, dy, x []float32) {
	for i, v := range x {
		s := sigmoid32(v)
		dx[i] += dy[i] * s * (1 + v*(1-s))
	}
}

// gegluGrad is GEGLUGrad; its AVX2 kernel rounds every operation as
// gegluGradGo does, so it gives the same bits, and leaves to the Go loop a
// block of 8 with a gate whose (−0.5·v)·v takes exp32's slow path.
func gegluGrad(dval, dgate, val, gate, dy []float32) {
	n := len(dy)
	dval, dgate, val, gate = dval[:n], dgate[:n], val[:n], gate[:n]
	for len(dy) > 0 {
		if n := len(dy) &^ 7; hasAVX2 && n > 0 {
			done := gegluGradAVX2(&dval[0], &dgate[0], &val[0], &gate[0], &dy[0], n)
			dval, dgate, val, gate, dy = dval[done:], dgate[done:], val[done:], gate[done:], dy[done:]
		}
		k := min(len(dy), 8) // the tail, or the block the kernel left
		gegluGradGo(dval[:k], dgate[:k], val[:k], gate[:k], dy[:k])
		dval, dgate, val, gate, dy = dval[k:], dgate[k:], val[k:], gate[k:], dy[k:]
	}
}

// gegluGradGo is gegluGrad's reference loop: GELU(v) = (0.5·v)·(1 + e) and
// GELU′(v) = Φ(v) + v·φ(v) = 0.5·(1 + e) + v·e^(−v²/2)/√(2π), with e =
// erf(v/√2) computed once.
func gegluGradGo(dval, dgate, val, gate, dy []float32) {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	for i, v := range gate {
		e := erf32(v * (1 / math.Sqrt2))
		gelu := 0.5 * v * (1 + e)
		d := 0.5*(1+e) + v*(exp32(-0.5*v*v)*invSqrt2Pi)
		dval[i] += dy[i] * gelu
		dgate[i] += dy[i] * val[i] * d
	}
}

// quickGELU sets dst[i] = src[i]·σ(1.702·src[i]). Its AVX2 kernel rounds
// every operation as quickGELUGo does, so it gives the same bits, and leaves
// to the Go loop a block of 8 with a value whose exponential takes exp32's
// slow path.
func quickGELU(dst, src []float32) {
	src = src[:len(dst)]
	for len(dst) > 0 {
		if n := len(dst) &^ 7; hasAVX2 && n > 0 {
			done := quickGELUAVX2(&dst[0], &src[0], n)
			dst, src = dst[done:], src[done:]
		}
		k := min(len(dst), 8) // the tail, or the block the kernel left
		quickGELUGo(dst[:k], src[:k])
		dst, src = dst[k:], src[k:]
	}
}

// quickGELUGo is quickGELU's reference loop.
func quickGELUGo(dst, src []float32) {
	for i, v := range src {
		dst[i] = v * sigmoid32(1.702*v)
	}
}

// quickGELUGrad adds dy[i]·QuickGELU′(x[i]) to dx[i], with
// quickGELUGradGo's bits on every path (see exactGrad).
func quickGELUGrad(dx, dy, x []float32) {
	exactGrad(dx, dy, x, quickGELUGradAVX2, quickGELUGradGo)
}

// quickGELUGradGo is quickGELUGrad's reference loop: QuickGELU′(v) = s +
// 1.702·v·s·(1 − s) with s = σ(1.702·v).
func quickGELUGradGo(dx, dy, x []float32) {
	for i, v := range x {
		s := sigmoid32(1.702 * v)
		dx[i] += dy[i] * (s + 1.702*v*s*(1-s))
	}
}

// add sets dst[i] += src[i]; the AVX2 kernel rounds each sum once, as the Go
// loop does, so the bits are the same.
func add(dst, src []float32) {
	src = src[:len(dst)]
	if n := len(dst) &^ 7; hasAVX2 && n > 0 {
		addAVX2(&dst[0], &src[0], n)
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		dst[i] += v
	}
}

// maxOf returns the largest value of a non-empty row.
func maxOf(row []float32) float32 {
	m := row[0]
	if n := len(row) &^ 7; hasAVX2 && n > 0 {
		m = maxAVX2(&row[0], n)
		row = row[n:]
	}
	for _, v := range row {
		m = max(m, v)
	}
	return m
}

// halfToFloat sets dst[i] to the float32 value of the half-precision bits
// src[i] (exactly: every half is a float32).
func halfToFloat(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	if n := len(src) &^ 7; hasF16C && n > 0 {
		halfToFloatF16C(&dst[0], &src[0], n)
		dst, src = dst[n:], src[n:]
	}
	for i, h := range src {
		dst[i] = float16.Frombits(h).Float32()
	}
}

// geluSlice sets dst[i] = GELU(src[i]).
func geluSlice(dst, src []float32) {
	src = src[:len(dst)]
	if n := len(dst) &^ 7; hasAVX2 && n > 0 {
		geluAVX2(&dst[0], &src[0], n)
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		dst[i] = gelu(v)
	}
}

// geglu sets dst[i] = val[i]·GELU(gate[i]).
func geglu(dst, val, gate []float32) {
	val, gate = val[:len(dst)], gate[:len(dst)]
	if n := len(dst) &^ 7; hasAVX2 && n > 0 {
		gegluAVX2(&dst[0], &val[0], &gate[0], n)
		dst, val, gate = dst[n:], val[n:], gate[n:]
	}
	for i, g := range gate {
		dst[i] = val[i] * gelu(g)
	}
}

// affine sets dst[i] = src[i]·scale + shift.
func affine(dst, src []float32, scale, shift float32) {
	src = src[:len(dst)]
	if n := len(dst) &^ 7; hasAVX2 && n > 0 {
		affineAVX2(&dst[0], &src[0], n, scale, shift)
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		dst[i] = v*scale + shift
	}
}

// sums returns Σ v[i] and Σ (v[i] − m)², accumulated in float32: callers
// keep v short (a block of a longer sum) so that rounding stays small.
func sums(v []float32, m float32) (sum, sq float32) {
	if n := len(v) &^ 7; hasAVX2 && n > 0 {
		sum, sq = sumsAVX2(&v[0], n, m)
		v = v[n:]
	}
	for _, x := range v {
		d := x - m
		sum += x
		sq += d * d
	}
	return sum, sq
}
