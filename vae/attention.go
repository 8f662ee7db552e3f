package vae

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Attention is the mid blocks' self-attention (diffusers' Attention with
// one head; LDM: AttnBlock): every position of the feature map attends to
// every other, with head dimension C and scale C^-½, after a GroupNorm, and
// the result is added back to the input.
//
// LDM checkpoints store q, k, v and proj_out as 1×1 convolutions
// (C, C, 1, 1); they are the same numbers as these (C, C) linear layers.
type Attention struct {
	GroupNorm layer.GroupNorm
	ToQ       layer.Linear // (C, C)
	ToK       layer.Linear // (C, C)
	ToV       layer.Linear // (C, C)
	ToOut     layer.Linear // (C, C), diffusers' to_out.0
}

func loadAttention(ld *weights.Loader, ch, groups int) *Attention {
	return &Attention{
		GroupNorm: layer.NewGroupNorm(ld.Sub("group_norm"), ch, groups, normEps),
		ToQ:       layer.NewLinear(ld.Sub("to_q"), ch, ch, true),
		ToK:       layer.NewLinear(ld.Sub("to_k"), ch, ch, true),
		ToV:       layer.NewLinear(ld.Sub("to_v"), ch, ch, true),
		ToOut:     layer.NewLinear(ld.Sub("to_out.0"), ch, ch, true),
	}
}

// Forward maps x (B, C, H, W) -> (B, C, H, W).
func (a *Attention) Forward(x *nn.Tensor) *nn.Tensor {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	seq := transpose12(a.GroupNorm.Forward(x).Reshape(b, c, h*w)) // (B, C, H·W) -> (B, H·W, C)
	q := nn.Linear(seq, a.ToQ.Weight, a.ToQ.Bias)                 // (B, H·W, C)
	k := nn.Linear(seq, a.ToK.Weight, a.ToK.Bias)
	v := nn.Linear(seq, a.ToV.Weight, a.ToV.Bias)
	o := nn.Attention(q, k, v, 1, false)           // (B, H·W, C): one head of dimension C
	o = nn.Linear(o, a.ToOut.Weight, a.ToOut.Bias) // (B, H·W, C)
	out := transpose12(o).Reshape(b, c, h, w)      // (B, H·W, C) -> (B, C, H, W)
	return nn.AddInPlace(out, x)
}

// transpose12 swaps the last two dimensions of x (B, M, N) -> (B, N, M).
func transpose12(x *nn.Tensor) *nn.Tensor {
	b, m, n := x.Shape[0], x.Shape[1], x.Shape[2]
	y := nn.New(b, n, m)
	nn.Parallel(b*n, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ { // r = bi·N + j: output row j of batch bi
			bi, j := r/n, r%n
			src := x.Data[bi*m*n:]
			dst := y.Data[r*m : (r+1)*m]
			for i := range dst {
				dst[i] = src[i*n+j]
			}
		}
	})
	return y
}
