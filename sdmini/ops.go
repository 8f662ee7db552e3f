package sdmini

import (
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
)

// toTokens reads a feature map as a sequence of pixels:
// (B, C, H, W) -> (B, H·W, C), as diffusers' permute(0, 2, 3, 1).
func toTokens(tp *grad.Tape, x *grad.Var) *grad.Var {
	s := x.Shape()
	return tp.Transpose(tp.Reshape(x, s[0], s[1], s[2]*s[3])) // (B, C, H·W) -> (B, H·W, C)
}

// fromTokens is the inverse of toTokens: (B, H·W, C) -> (B, C, H, W).
func fromTokens(tp *grad.Tape, x *grad.Var, h, w int) *grad.Var {
	s := x.Shape()
	return tp.Reshape(tp.Transpose(x), s[0], s[2], h, w) // (B, C, H·W) -> (B, C, H, W)
}

// The operations package grad lacks, composed from those it has (so their
// gradients come for free). The lead may move them into grad.

// selectChannels picks channels [from, from+n) of x (B, C, H, W) as a 1×1
// convolution with a constant 0/1 weight: (B, C, H, W) -> (B, n, H, W).
func selectChannels(tp *grad.Tape, x *grad.Var, from, n int) *grad.Var {
	c := x.Shape()[1]
	w := nn.New(n, c, 1, 1) // (n, C, 1, 1): row i picks channel from+i
	for i := range n {
		w.Data[i*c+from+i] = 1
	}
	return tp.Conv2d(x, grad.Const(w), nil, 1, 0)
}

// l1 is mean(w·|a − b|) with constant weights w (nil: all 1): |d| =
// d·sign(d) with the sign taken as a constant, which is exactly the
// gradient of the absolute value (0 at 0).
func l1(tp *grad.Tape, a, b *grad.Var, w *nn.Tensor) *grad.Var {
	d := tp.Sub(a, b)
	sign := nn.New(d.Shape()...)
	for i, v := range d.Value.Data {
		switch {
		case v > 0:
			sign.Data[i] = 1
		case v < 0:
			sign.Data[i] = -1
		}
		if w != nil {
			sign.Data[i] *= w.Data[i]
		}
	}
	return tp.Mean(tp.Mul(d, grad.Const(sign)))
}

// l2 is mean(w·(a − b)²) with constant weights w of a's size (nil: tp.MSE).
func l2(tp *grad.Tape, a, b *grad.Var, w *nn.Tensor) *grad.Var {
	if w == nil {
		return tp.MSE(a, b)
	}
	d := tp.Sub(a, b)
	return tp.Mean(tp.Mul(tp.Mul(d, d), grad.Const(nn.From(w.Data, d.Shape()...))))
}
