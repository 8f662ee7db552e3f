package unet

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// The four kinds of leaf module the U-Net is built from. Each holds the
// tensors that PyTorch's module of the same name stores, under the same
// names ("weight", "bias"), and applies itself with the matching nn op.

// Linear is torch.nn.Linear: Weight (out, in), Bias (out) or nil.
type Linear struct {
	Weight, Bias *nn.Tensor
}

func loadLinear(ld *weights.Loader, in, out int, bias bool) Linear {
	l := Linear{Weight: ld.Tensor("weight", out, in)}
	if bias {
		l.Bias = ld.Tensor("bias", out)
	}
	return l
}

// Forward applies the layer over the last dimension: (…, in) -> (…, out).
func (l Linear) Forward(x *nn.Tensor) *nn.Tensor { return nn.Linear(x, l.Weight, l.Bias) }

// Conv2d is torch.nn.Conv2d with a square kernel and symmetric padding:
// Weight (out, in, k, k), Bias (out).
type Conv2d struct {
	Weight, Bias *nn.Tensor
	Stride, Pad  int
}

func loadConv(ld *weights.Loader, in, out, k, stride, pad int) Conv2d {
	return Conv2d{
		Weight: ld.Tensor("weight", out, in, k, k),
		Bias:   ld.Tensor("bias", out),
		Stride: stride,
		Pad:    pad,
	}
}

// Forward applies the convolution: (B, in, H, W) -> (B, out, H', W').
func (c Conv2d) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.Conv2d(x, c.Weight, c.Bias, c.Stride, c.Pad)
}

// GroupNorm is torch.nn.GroupNorm: per-channel Weight and Bias (C).
type GroupNorm struct {
	Weight, Bias *nn.Tensor
	Groups       int
	Eps          float32
}

func loadGroupNorm(ld *weights.Loader, channels, groups int, eps float32) GroupNorm {
	return GroupNorm{
		Weight: ld.Tensor("weight", channels),
		Bias:   ld.Tensor("bias", channels),
		Groups: groups,
		Eps:    eps,
	}
}

// Forward normalises x (B, C, …) over groups of channels; the shape is kept.
func (g GroupNorm) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.GroupNorm(x, g.Groups, g.Weight, g.Bias, g.Eps)
}

// LayerNorm is torch.nn.LayerNorm over the last dimension: Weight and Bias (D).
type LayerNorm struct {
	Weight, Bias *nn.Tensor
	Eps          float32
}

func loadLayerNorm(ld *weights.Loader, dim int, eps float32) LayerNorm {
	return LayerNorm{Weight: ld.Tensor("weight", dim), Bias: ld.Tensor("bias", dim), Eps: eps}
}

// Forward normalises each row of the last dimension; the shape is kept.
func (l LayerNorm) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

// toTokens turns an image (B, C, H, W) into a token sequence (B, H·W, C),
// tokens in row-major pixel order, as diffusers' permute(0, 2, 3, 1) does.
func toTokens(x *nn.Tensor) *nn.Tensor {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := nn.New(b, h*w, c)
	transpose(y.Data, x.Data, b, c, h*w)
	return y
}

// fromTokens is the inverse of toTokens: (B, H·W, C) -> (B, C, H, W).
func fromTokens(x *nn.Tensor, h, w int) *nn.Tensor {
	b, c := x.Shape[0], x.Shape[2]
	y := nn.New(b, c, h, w)
	transpose(y.Data, x.Data, b, h*w, c)
	return y
}

// transpose writes the batch of b row-major (rows × cols) matrices in src to
// dst as (cols × rows) matrices.
func transpose(dst, src []float32, b, rows, cols int) {
	nn.Parallel(b*cols, 16, func(lo, hi int) {
		for bc := lo; bc < hi; bc++ { // one output row: batch bi, source column j
			bi, j := bc/cols, bc%cols
			s := src[bi*rows*cols:]
			d := dst[bc*rows : (bc+1)*rows]
			for i := range d {
				d[i] = s[i*cols+j]
			}
		}
	})
}
