// Package layer holds the leaf modules every Stable Diffusion network is
// built from — Linear, Conv2d, GroupNorm and LayerNorm — as PyTorch stores
// them: each keeps the tensors its PyTorch module saves under the same names
// ("weight", "bias"), loads them through a weights.Loader positioned at the
// module's name, and applies itself with the matching nn operation.
//
//	conv := layer.NewConv2d(ld.Sub("conv_in"), 4, 320, 3, 1, 1) // reads conv_in.weight (320, 4, 3, 3), conv_in.bias (320)
//	y := conv.Forward(x)                                       // (B, 4, H, W) -> (B, 320, H, W)
package layer

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Linear is torch.nn.Linear: y = x·Wᵀ + b.
type Linear struct {
	Weight *nn.Tensor // (out, in)
	Bias   *nn.Tensor // (out), or nil for a layer without bias
}

// NewLinear loads a Linear of in → out features from ld ("weight", and
// "bias" when bias is set).
func NewLinear(ld *weights.Loader, in, out int, bias bool) Linear {
	l := Linear{Weight: ld.Tensor("weight", out, in)}
	if bias {
		l.Bias = ld.Tensor("bias", out)
	}
	return l
}

// Forward maps the last dimension: (…, in) -> (…, out).
func (l Linear) Forward(x *nn.Tensor) *nn.Tensor { return nn.Linear(x, l.Weight, l.Bias) }

// Conv2d is torch.nn.Conv2d with a square kernel, stride and padding.
type Conv2d struct {
	Weight      *nn.Tensor // (out, in, k, k)
	Bias        *nn.Tensor // (out), or nil
	Stride, Pad int
}

// NewConv2d loads a k×k convolution of in → out channels with a bias.
func NewConv2d(ld *weights.Loader, in, out, k, stride, pad int) Conv2d {
	return Conv2d{Weight: ld.Tensor("weight", out, in, k, k), Bias: ld.Tensor("bias", out), Stride: stride, Pad: pad}
}

// Forward convolves: (B, in, H, W) -> (B, out, (H+2·pad−k)/stride+1, …).
func (c Conv2d) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.Conv2d(x, c.Weight, c.Bias, c.Stride, c.Pad)
}

// GroupNorm is torch.nn.GroupNorm with a per-channel affine transform.
type GroupNorm struct {
	Weight, Bias *nn.Tensor // (C)
	Groups       int
	Eps          float32
}

// NewGroupNorm loads a GroupNorm over channels split into groups.
func NewGroupNorm(ld *weights.Loader, channels, groups int, eps float32) GroupNorm {
	return GroupNorm{Weight: ld.Tensor("weight", channels), Bias: ld.Tensor("bias", channels), Groups: groups, Eps: eps}
}

// Forward normalises x (B, C, …) over groups of channels; the shape is kept.
func (g GroupNorm) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.GroupNorm(x, g.Groups, g.Weight, g.Bias, g.Eps)
}

// LayerNorm is torch.nn.LayerNorm over the last dimension.
type LayerNorm struct {
	Weight, Bias *nn.Tensor // (D)
	Eps          float32
}

// NewLayerNorm loads a LayerNorm over dim features.
func NewLayerNorm(ld *weights.Loader, dim int, eps float32) LayerNorm {
	return LayerNorm{Weight: ld.Tensor("weight", dim), Bias: ld.Tensor("bias", dim), Eps: eps}
}

// Forward normalises each row of the last dimension; the shape is kept.
func (l LayerNorm) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}
