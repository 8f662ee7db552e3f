package nn

import "math"

// SiLU applies x·σ(x) in place and returns x.
func SiLU(x *Tensor) *Tensor {
	apply(x.Data, func(d []float32) { siluAffine(d, d, 1, 0) })
	return x
}

// SiLUGrad adds dy[i]·SiLU′(x[i]) to dx[i], the backward pass of SiLU:
// SiLU′(v) = σ(v)·(1 + v·(1 − σ(v))), with σ in float32 (Sigmoid32). The
// slices have dx's length at least. Its AVX2 kernel gives the plain Go
// loop's bits, so a training run's bits do not depend on it.
func SiLUGrad(dx, dy, x []float32) { siluGrad(dx, dy, x) }

// GEGLUGrad is the backward pass of GEGLU over one row of gates and values:
// dval[i] += dy[i]·GELU(gate[i]) and dgate[i] += dy[i]·val[i]·GELU′(gate[i]),
// with erf and exp in float32 (Erf32, Exp32). The slices have dy's length
// at least. Its AVX2 kernel gives the plain Go loop's bits, so a training
// run's bits do not depend on it.
func GEGLUGrad(dval, dgate, val, gate, dy []float32) { gegluGrad(dval, dgate, val, gate, dy) }

// GELU applies the exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)), in place.
func GELU(x *Tensor) *Tensor {
	apply(x.Data, func(d []float32) { geluSlice(d, d) })
	return x
}

func gelu(v float32) float32 {
	return 0.5 * v * (1 + erf32(v*(1/math.Sqrt2)))
}

// GELUTanh applies the tanh approximation of GELU in place:
// x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func GELUTanh(x *Tensor) *Tensor {
	const k = 0.7978845608028654 // √(2/π)
	apply(x.Data, func(d []float32) {
		for i, v := range d {
			d[i] = 0.5 * v * (1 + tanh32(k*(v+0.044715*v*v*v)))
		}
	})
	return x
}

// QuickGELU applies CLIP's x·σ(1.702·x) in place.
func QuickGELU(x *Tensor) *Tensor {
	apply(x.Data, func(d []float32) { quickGELU(d, d) })
	return x
}

// QuickGELUGrad adds dy[i]·QuickGELU′(x[i]) to dx[i], the backward pass of
// QuickGELU: QuickGELU′(v) = s + 1.702·v·s·(1 − s) with s = σ(1.702·v) in
// float32 (Sigmoid32). The slices have dx's length at least. Its AVX2
// kernel, as QuickGELU's, gives the plain Go loop's bits.
func QuickGELUGrad(dx, dy, x []float32) { quickGELUGrad(dx, dy, x) }

// GEGLU splits the last dimension of x (…, 2F) into a value half and a gate
// half and returns value·GELU(gate) (…, F), as diffusers' GEGLU does.
func GEGLU(x *Tensor) *Tensor {
	f2 := x.Shape[len(x.Shape)-1]
	f := f2 / 2
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), f)
	y := New(shape...)
	Parallel(len(x.Data)/f2, max(1, 1<<13/f2), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			val, gate := x.Data[r*f2:r*f2+f], x.Data[r*f2+f:(r+1)*f2]
			geglu(y.Data[r*f:(r+1)*f], val, gate)
		}
	})
	return y
}

// Softmax replaces each row of the last dimension of x by its softmax, in place.
func Softmax(x *Tensor) *Tensor {
	d := x.Shape[len(x.Shape)-1]
	Parallel(len(x.Data)/d, max(1, 1<<12/d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(x.Data[r*d : (r+1)*d])
		}
	})
	return x
}

func softmaxRow(row []float32) {
	s := expSub(row, maxOf(row))
	inv := 1 / s
	for i := range row {
		row[i] *= inv
	}
}

// apply runs f over d in place, on parallel chunks.
func apply(d []float32, f func([]float32)) {
	Parallel(len(d), 1<<14, func(lo, hi int) { f(d[lo:hi]) })
}

// Add returns a + b elementwise (same shapes).
func Add(a, b *Tensor) *Tensor {
	y := a.Clone()
	AddInPlace(y, b)
	return y
}

// AddInPlace adds b to a elementwise and returns a.
func AddInPlace(a, b *Tensor) *Tensor {
	ad := a.Data[:len(b.Data)]
	Parallel(len(ad), 1<<15, func(lo, hi int) { add(ad[lo:hi], b.Data[lo:hi]) })
	return a
}

// AddTo adds src to dst elementwise, dst[i] += src[i] (src at least as long),
// on the calling goroutine, with the AVX2 kernel where the CPU has one: each
// sum is rounded once, so the bits are a plain loop's on every path.
func AddTo(dst, src []float32) { add(dst, src) }

// Scale multiplies x by s in place and returns x.
func Scale(x *Tensor, s float32) *Tensor {
	apply(x.Data, func(d []float32) {
		for i := range d {
			d[i] *= s
		}
	})
	return x
}
