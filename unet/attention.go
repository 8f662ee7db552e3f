package unet

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Attention is diffusers' Attention with its default processor: multi-head
// scaled dot-product attention softmax(Q·Kᵀ/√Dh)·V. For self-attention
// ("attn1") keys and values come from the same tokens as the queries; for
// cross-attention ("attn2") they come from the text context, which is how the
// prompt steers the image.
type Attention struct {
	ToQ   layer.Linear // to_q: (C, C), no bias
	ToK   layer.Linear // to_k: (C, Ctx), no bias
	ToV   layer.Linear // to_v: (C, Ctx), no bias
	ToOut layer.Linear // to_out.0: (C, C) with bias (to_out.1 is dropout)
	Heads int
}

func loadAttention(ld *weights.Loader, dim, ctxDim, heads int) *Attention {
	return &Attention{
		ToQ:   layer.NewLinear(ld.Sub("to_q"), dim, dim, false),
		ToK:   layer.NewLinear(ld.Sub("to_k"), ctxDim, dim, false),
		ToV:   layer.NewLinear(ld.Sub("to_v"), ctxDim, dim, false),
		ToOut: layer.NewLinear(ld.Sub("to_out.0"), dim, dim, true),
		Heads: heads,
	}
}

// Forward attends from x (B, N, C) to ctx (B, M, Ctx), or to x itself when
// ctx is nil: (B, N, C) -> (B, N, C). nn.Attention works one head and one
// block of query rows at a time, so the (heads, N, M) score matrix is never
// held whole (at 64×64 latents N = M = 4096).
func (a *Attention) Forward(x, ctx *nn.Tensor) *nn.Tensor {
	if ctx == nil {
		ctx = x
	}
	q := a.ToQ.Forward(x)                      // (B, N, C) -> (B, N, C)
	k := a.ToK.Forward(ctx)                    // (B, M, Ctx) -> (B, M, C)
	v := a.ToV.Forward(ctx)                    // (B, M, Ctx) -> (B, M, C)
	o := nn.Attention(q, k, v, a.Heads, false) // heads of C/Heads: (B, N, C)
	return a.ToOut.Forward(o)                  // (B, N, C) -> (B, N, C)
}

// FeedForward is the transformer's MLP with a GEGLU gate (diffusers'
// FeedForward, "ff.net.0.proj" and "ff.net.2"): the projection doubles into
// a value half and a gate half, out = Linear(value · GELU(gate)).
type FeedForward struct {
	Proj layer.Linear // net.0.proj: (2·4C, C)
	Out  layer.Linear // net.2: (C, 4C)
}

func loadFeedForward(ld *weights.Loader, dim int) *FeedForward {
	inner := 4 * dim
	return &FeedForward{
		Proj: layer.NewLinear(ld.Sub("net.0.proj"), dim, 2*inner, true),
		Out:  layer.NewLinear(ld.Sub("net.2"), inner, dim, true),
	}
}

// ffChunk bounds the token rows pushed through the feed-forward at once, so
// its widest activation (rows × 8C) stays small: 1024 rows × 2560 = 10 MB for
// SD 1.5's first level instead of 84 MB for all 2×4096 tokens.
const ffChunk = 1024

// Forward applies the MLP to each token: (B, N, C) -> (B, N, C).
func (f *FeedForward) Forward(x *nn.Tensor) *nn.Tensor {
	c := x.Shape[len(x.Shape)-1]
	rows := len(x.Data) / c
	wide := f.Proj.Weight.Shape[0] // 2·4C
	y := nn.New(x.Shape...)
	buf := nn.New(min(rows, ffChunk), wide)
	for r0 := 0; r0 < rows; r0 += ffChunk {
		n := min(ffChunk, rows-r0)
		h := nn.From(buf.Data[:n*wide], n, wide)
		nn.LinearInto(h.Data, x.Data[r0*c:(r0+n)*c], n, f.Proj.Weight, f.Proj.Bias) // (n, C) -> (n, 8C)
		g := nn.GEGLU(h)                                                            // (n, 8C) -> (n, 4C)
		nn.LinearInto(y.Data[r0*c:(r0+n)*c], g.Data, n, f.Out.Weight, f.Out.Bias)   // (n, 4C) -> (n, C)
	}
	return y
}
