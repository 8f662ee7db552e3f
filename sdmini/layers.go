package sdmini

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
)

// builder creates parameters under a name prefix, initialised as PyTorch
// initialises its layers, and registers them in a grad.Params. Each sub call
// adds one key segment, so the Go tree that calls it mirrors the
// checkpoint's module tree ("down_blocks.0" + "resnets.1" + "conv1").
type builder struct {
	ps     *grad.Params
	r      *rand.Rand
	prefix string
}

func newBuilder(ps *grad.Params, r *rand.Rand, prefix string) builder {
	return builder{ps: ps, r: r, prefix: prefix}
}

// sub returns the builder of a child module.
func (b builder) sub(name string) builder {
	b.prefix += name + "."
	return b
}

// subf is sub with a formatted name ("layers.%d").
func (b builder) subf(format string, a ...any) builder { return b.sub(fmt.Sprintf(format, a...)) }

// add registers a parameter named prefix + name.
func (b builder) add(name string, t *nn.Tensor) *grad.Var { return b.ps.Add(b.prefix+name, t) }

// linear is torch.nn.Linear: W (out, in), B (out) or nil.
type linear struct{ W, B *grad.Var }

// linear creates a Linear layer with PyTorch's default init U(±1/√in).
func (b builder) linear(in, out int, bias bool) linear {
	bound := float32(1 / math.Sqrt(float64(in)))
	l := linear{W: b.add("weight", grad.Uniform(b.r, bound, out, in))}
	if bias {
		l.B = b.add("bias", grad.Uniform(b.r, bound, out))
	}
	return l
}

// forward maps the last dimension: (…, in) -> (…, out).
func (l linear) forward(tp *grad.Tape, x *grad.Var) *grad.Var { return tp.Linear(x, l.W, l.B) }

// conv is torch.nn.Conv2d with a square kernel: W (out, in, k, k), B (out).
type conv struct {
	W, B        *grad.Var
	stride, pad int
}

// conv creates a k×k convolution with PyTorch's default init U(±1/√(in·k²)).
func (b builder) conv(in, out, k, stride, pad int) conv {
	bound := float32(1 / math.Sqrt(float64(in*k*k)))
	return conv{
		W:      b.add("weight", grad.Uniform(b.r, bound, out, in, k, k)),
		B:      b.add("bias", grad.Uniform(b.r, bound, out)),
		stride: stride,
		pad:    pad,
	}
}

// forward applies the convolution: (B, in, H, W) -> (B, out, H', W').
func (c conv) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	return tp.Conv2d(x, c.W, c.B, c.stride, c.pad)
}

// norm is torch.nn.GroupNorm (groups > 0) or torch.nn.LayerNorm over the
// last dimension (groups == 0): weight 1, bias 0 at the start.
type norm struct {
	W, B   *grad.Var
	groups int
	eps    float32
}

func (b builder) groupNorm(ch, groups int, eps float32) norm {
	return norm{W: b.add("weight", grad.Full(1, ch)), B: b.add("bias", grad.Full(0, ch)), groups: groups, eps: eps}
}

func (b builder) layerNorm(dim int, eps float32) norm {
	return norm{W: b.add("weight", grad.Full(1, dim)), B: b.add("bias", grad.Full(0, dim)), eps: eps}
}

// forward normalises x; the shape is kept.
func (n norm) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	if n.groups == 0 {
		return tp.LayerNorm(x, n.W, n.B, n.eps)
	}
	return tp.GroupNorm(x, n.groups, n.W, n.B, n.eps)
}

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
