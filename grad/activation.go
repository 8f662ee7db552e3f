package grad

import (
	"math"

	"github.com/sdgo/sdgo/nn"
)

// SiLU is x·σ(x), as torch.nn.SiLU; its derivative is σ(x)·(1 + x·(1 − σ(x))).
// The U-Net calls it on every ResNet block, so its backward pass runs
// nn.SiLUGrad's vector loop instead of going through unary.
func (tp *Tape) SiLU(x *Var) *Var { return tp.activation(x, nn.SiLU, nn.SiLUGrad) }

// GELU is the exact GELU, x·Φ(x) with Φ the normal CDF, as torch.nn.GELU();
// its derivative is Φ(x) + x·φ(x).
func (tp *Tape) GELU(x *Var) *Var {
	return tp.unary(x, nn.GELU, func(v, _ float32) float32 { return geluGrad(v) })
}

// QuickGELU is CLIP's x·σ(1.702·x); its derivative is
// σ(1.702·x) + 1.702·x·σ(1.702·x)·(1 − σ(1.702·x)).
// The text encoder calls it in every layer, so its backward pass runs
// nn.QuickGELUGrad's vector loop instead of going through unary.
func (tp *Tape) QuickGELU(x *Var) *Var { return tp.activation(x, nn.QuickGELU, nn.QuickGELUGrad) }

// Exp is eˣ elementwise (CLIP's logit scale is trained as a logarithm); its
// derivative is its value.
func (tp *Tape) Exp(x *Var) *Var {
	return tp.unary(x, func(t *nn.Tensor) *nn.Tensor {
		for i, v := range t.Data {
			t.Data[i] = float32(math.Exp(float64(v)))
		}
		return t
	}, func(_, y float32) float32 { return y })
}

// activation applies the in-place nn function f to a copy of x; backward
// adds dy·f′(x) to dx with back, one of nn's vector loops (nn.SiLUGrad, …).
func (tp *Tape) activation(x *Var, f func(*nn.Tensor) *nn.Tensor, back func(dx, dy, x []float32)) *Var {
	y := tp.result(x.Value.Shape, x)
	copy(y.Value.Data, x.Value.Data)
	f(y.Value)
	tp.record(y, func() {
		dx, dy, X := tp.gradOf(x), y.Grad.Data, x.Value.Data
		nn.Parallel(len(dx), 1<<13, func(lo, hi int) { back(dx[lo:hi], dy[lo:hi], X[lo:hi]) })
	})
	return y
}

// unary applies the in-place nn function f to a copy of x; backward
// multiplies dy by the derivative df(x, y) elementwise.
func (tp *Tape) unary(x *Var, f func(*nn.Tensor) *nn.Tensor, df func(x, y float32) float32) *Var {
	y := tp.result(x.Value.Shape, x)
	copy(y.Value.Data, x.Value.Data)
	f(y.Value)
	tp.record(y, func() {
		dx, dy, X, Y := tp.gradOf(x), y.Grad.Data, x.Value.Data, y.Value.Data
		nn.Parallel(len(dx), 1<<13, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dx[i] += dy[i] * df(X[i], Y[i])
			}
		})
	})
	return y
}

// gelu is x·Φ(x) and geluGrad its derivative Φ(x) + x·φ(x), in float32.
func gelu(v float32) float32 { return 0.5 * v * (1 + nn.Erf32(v*(1/math.Sqrt2))) }

func geluGrad(v float32) float32 {
	cdf := 0.5 * (1 + nn.Erf32(v*(1/math.Sqrt2)))
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	pdf := nn.Exp32(-0.5*v*v) * invSqrt2Pi
	return cdf + v*pdf
}

// GEGLU splits the last dimension of x (…, 2F) into a value half and a gate
// half and returns value·GELU(gate) (…, F), as diffusers' GEGLU after its
// projection. Backward: dvalue = dy·GELU(gate), dgate = dy·value·GELU′(gate).
func (tp *Tape) GEGLU(x *Var) *Var {
	y := tp.wrap(nn.GEGLU(x.Value), x)
	tp.record(y, func() {
		f2 := x.Value.Dim(-1)
		f := f2 / 2
		X, dx, dy := x.Value.Data, tp.gradOf(x), y.Grad.Data
		nn.Parallel(len(X)/f2, 16, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				val, gate := X[r*f2:r*f2+f], X[r*f2+f:(r+1)*f2]
				dval, dgate, g := dx[r*f2:r*f2+f], dx[r*f2+f:(r+1)*f2], dy[r*f:(r+1)*f]
				nn.GEGLUGrad(dval, dgate, val, gate, g)
			}
		})
	})
	return y
}
