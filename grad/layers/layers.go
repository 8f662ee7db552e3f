// Package layers holds trainable versions of the modules sdgo's models are
// built from, over package grad: the leaf modules (Linear, Conv2d,
// GroupNorm, LayerNorm, Embedding) and the first blocks of the U-Net and the
// VAE (TimestepEmbedding, ResnetBlock2D). Field names, parameter names and
// forward passes mirror packages unet and vae, so a trained block exports to
// a checkpoint they load, and a block built here computes what theirs does.
// Package sdmini builds its models from them.
//
// Parameters are created through a [Builder], which names them by walking
// the module tree with a prefix, as weights.Loader does when loading:
//
//	b := layers.NewBuilder(params, rng).Sub("down_blocks.0.resnets.0")
//	r := layers.NewResnetBlock2D(b, 320, 320, 1280, 32, 1e-5)
//	// params now holds "down_blocks.0.resnets.0.norm1.weight", …
package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
)

// Builder creates and registers parameters under a name prefix, drawing
// initial values from its random source.
type Builder struct {
	params *grad.Params
	rng    *rand.Rand
	prefix string // "" or ending in "."
}

// NewBuilder returns a Builder registering into params at the root of the
// name tree.
func NewBuilder(params *grad.Params, r *rand.Rand) Builder {
	return Builder{params: params, rng: r}
}

// Sub returns a Builder for the child module name ("conv1", "resnets.0").
func (b Builder) Sub(name string) Builder {
	b.prefix += name + "."
	return b
}

// Subf is Sub with a formatted name.
func (b Builder) Subf(format string, a ...any) Builder { return b.Sub(fmt.Sprintf(format, a...)) }

// Prefix is the name prefix of b's parameters ("" or ending in ".").
func (b Builder) Prefix() string { return b.prefix }

// Add registers t as the parameter prefix+name.
func (b Builder) Add(name string, t *nn.Tensor) *grad.Var { return b.params.Add(b.prefix+name, t) }

// uniform registers a parameter drawn from U(−bound, bound).
func (b Builder) uniform(name string, bound float32, shape ...int) *grad.Var {
	return b.Add(name, grad.Uniform(b.rng, bound, shape...))
}

// normal registers a parameter drawn from N(0, std²).
func (b Builder) normal(name string, std float32, shape ...int) *grad.Var {
	return b.Add(name, grad.Normal(b.rng, std, shape...))
}

// fanInBound is PyTorch's default init bound for Linear and Conv2d,
// 1/√fan_in (kaiming_uniform with a = √5, and the bias rule).
func fanInBound(fanIn int) float32 { return float32(1 / math.Sqrt(float64(fanIn))) }

// Linear is torch.nn.Linear: Weight (out, in), Bias (out) or nil.
type Linear struct {
	Weight, Bias *grad.Var
}

// NewLinear creates a Linear with PyTorch's default initialisation.
func NewLinear(b Builder, in, out int, bias bool) Linear {
	bound := fanInBound(in)
	l := Linear{Weight: b.uniform("weight", bound, out, in)}
	if bias {
		l.Bias = b.uniform("bias", bound, out)
	}
	return l
}

// Forward applies the layer over the last dimension: (…, in) -> (…, out).
func (l Linear) Forward(tp *grad.Tape, x *grad.Var) *grad.Var { return tp.Linear(x, l.Weight, l.Bias) }

// Conv2d is torch.nn.Conv2d with a square kernel and symmetric padding:
// Weight (out, in, k, k), Bias (out).
type Conv2d struct {
	Weight, Bias *grad.Var
	Stride, Pad  int
}

// NewConv2d creates a Conv2d with PyTorch's default initialisation.
func NewConv2d(b Builder, in, out, k, stride, pad int) Conv2d {
	bound := fanInBound(in * k * k)
	return Conv2d{
		Weight: b.uniform("weight", bound, out, in, k, k),
		Bias:   b.uniform("bias", bound, out),
		Stride: stride,
		Pad:    pad,
	}
}

// Forward applies the convolution: (B, in, H, W) -> (B, out, H', W').
func (c Conv2d) Forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	return tp.Conv2d(x, c.Weight, c.Bias, c.Stride, c.Pad)
}

// GroupNorm is torch.nn.GroupNorm: per-channel Weight and Bias (C),
// initialised to 1 and 0.
type GroupNorm struct {
	Weight, Bias *grad.Var
	Groups       int
	Eps          float32
}

// NewGroupNorm creates a GroupNorm over channels split into groups.
func NewGroupNorm(b Builder, channels, groups int, eps float32) GroupNorm {
	return GroupNorm{
		Weight: b.Add("weight", grad.Full(1, channels)),
		Bias:   b.Add("bias", grad.Full(0, channels)),
		Groups: groups,
		Eps:    eps,
	}
}

// Forward normalises x (B, C, …) over groups of channels; the shape is kept.
func (g GroupNorm) Forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	return tp.GroupNorm(x, g.Groups, g.Weight, g.Bias, g.Eps)
}

// LayerNorm is torch.nn.LayerNorm over the last dimension: Weight and Bias
// (D), initialised to 1 and 0.
type LayerNorm struct {
	Weight, Bias *grad.Var
	Eps          float32
}

// NewLayerNorm creates a LayerNorm over rows of dim values.
func NewLayerNorm(b Builder, dim int, eps float32) LayerNorm {
	return LayerNorm{Weight: b.Add("weight", grad.Full(1, dim)), Bias: b.Add("bias", grad.Full(0, dim)), Eps: eps}
}

// Forward normalises each row of the last dimension; the shape is kept.
func (l LayerNorm) Forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	return tp.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

// Embedding is torch.nn.Embedding: a Weight (N, D) whose row i is the
// vector of index i (a token, a position).
type Embedding struct {
	Weight *grad.Var
}

// NewEmbedding creates an Embedding of n vectors of dim values drawn from
// N(0, std²): torch's default is std 1; CLIP draws its token embedding with
// std 0.02 and its position embedding with 0.01.
func NewEmbedding(b Builder, n, dim int, std float32) Embedding {
	return Embedding{Weight: b.normal("weight", std, n, dim)}
}

// Forward looks up the rows of ids (any length L): (L) -> (L, D).
func (e Embedding) Forward(tp *grad.Tape, ids []int) *grad.Var { return tp.Embedding(e.Weight, ids) }
