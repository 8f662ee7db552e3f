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

// ForwardNormSiLU is c.Forward(g.ForwardSiLU(x)), the first half of a ResNet
// block, without holding the normalised tensor (see nn.GroupNormSiLUConv2d):
// (B, in, H, W) -> (B, out, H', W'). x is left unchanged.
func (c Conv2d) ForwardNormSiLU(g GroupNorm, x *nn.Tensor) *nn.Tensor {
	if c.Stride != 1 {
		return c.Forward(g.ForwardSiLU(x))
	}
	return nn.GroupNormSiLUConv2d(x, g.Groups, g.Weight, g.Bias, g.Eps, c.Weight, c.Bias, c.Pad)
}

// ForwardUpsample2x is c.Forward(nn.UpsampleNearest2x(x)), an upsampler,
// without holding the upsampled image (see nn.Conv2dUpsample2x):
// (B, in, H, W) -> (B, out, 2H+2·pad−k+1, …).
func (c Conv2d) ForwardUpsample2x(x *nn.Tensor) *nn.Tensor {
	if c.Stride != 1 {
		return c.Forward(nn.UpsampleNearest2x(x))
	}
	return nn.Conv2dUpsample2x(x, c.Weight, c.Bias, c.Pad)
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

// ForwardSiLU is nn.SiLU(g.Forward(x)) in one pass (nn.GroupNormSiLU), as
// ResNet blocks and output heads apply them; x is left unchanged.
func (g GroupNorm) ForwardSiLU(x *nn.Tensor) *nn.Tensor {
	return nn.GroupNormSiLU(x, g.Groups, g.Weight, g.Bias, g.Eps)
}

// ForwardSiLUInPlace is ForwardSiLU writing over x and returning it, for a
// tensor nothing reads afterwards.
func (g GroupNorm) ForwardSiLUInPlace(x *nn.Tensor) *nn.Tensor {
	return nn.GroupNormSiLUInPlace(x, g.Groups, g.Weight, g.Bias, g.Eps)
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
