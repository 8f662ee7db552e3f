package vae

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Conv2d is a convolution's parameters: Weight (Out, In, K, K), Bias (Out) or nil.
type Conv2d struct {
	Weight *nn.Tensor // (Out, In, K, K)
	Bias   *nn.Tensor // (Out) or nil
}

// loadConv reads a k×k convolution from in to out channels, with a bias.
func loadConv(ld *weights.Loader, in, out, k int) Conv2d {
	return Conv2d{Weight: ld.Tensor("weight", out, in, k, k), Bias: ld.Tensor("bias", out)}
}

// Forward applies the convolution with stride 1 and the padding that keeps
// the size ("same" padding, k/2 on every side).
func (c Conv2d) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.Conv2d(x, c.Weight, c.Bias, 1, c.Weight.Shape[2]/2)
}

// GroupNorm is a group normalisation's affine parameters.
type GroupNorm struct {
	Weight, Bias *nn.Tensor // (C)
	Groups       int
}

func loadNorm(ld *weights.Loader, ch, groups int) GroupNorm {
	return GroupNorm{Weight: ld.Tensor("weight", ch), Bias: ld.Tensor("bias", ch), Groups: groups}
}

// Forward normalises x (B, C, H, W) with the VAE's eps of 1e-6.
func (g GroupNorm) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.GroupNorm(x, g.Groups, g.Weight, g.Bias, normEps)
}

// Resnet is diffusers' ResnetBlock2D as the VAE uses it (LDM: ResnetBlock):
// two GroupNorm→SiLU→conv 3×3 steps and a residual connection, with no
// timestep embedding. When the channel count changes, the residual goes
// through a 1×1 convolution (LDM: nin_shortcut).
type Resnet struct {
	Norm1        GroupNorm // (In)
	Conv1        Conv2d    // (Out, In, 3, 3)
	Norm2        GroupNorm // (Out)
	Conv2        Conv2d    // (Out, Out, 3, 3)
	ConvShortcut *Conv2d   // (Out, In, 1, 1), only when In ≠ Out
}

func loadResnet(ld *weights.Loader, in, out, groups int) *Resnet {
	r := &Resnet{
		Norm1: loadNorm(ld.Sub("norm1"), in, groups),
		Conv1: loadConv(ld.Sub("conv1"), in, out, 3),
		Norm2: loadNorm(ld.Sub("norm2"), out, groups),
		Conv2: loadConv(ld.Sub("conv2"), out, out, 3),
	}
	if in != out {
		c := loadConv(ld.Sub("conv_shortcut"), in, out, 1)
		r.ConvShortcut = &c
	}
	return r
}

// Forward maps x (B, In, H, W) -> (B, Out, H, W).
func (r *Resnet) Forward(x *nn.Tensor) *nn.Tensor { return r.forward(x, nil) }

// forward is Forward with the norms' statistics shared across tiles (see tiled.go).
func (r *Resnet) forward(x *nn.Tensor, ns *normState) *nn.Tensor {
	h := r.Conv1.Forward(nn.SiLU(ns.norm(r.Norm1, x))) // (B, In, H, W) -> (B, Out, H, W)
	h = r.Conv2.Forward(nn.SiLU(ns.norm(r.Norm2, h)))
	if r.ConvShortcut != nil {
		x = r.ConvShortcut.Forward(x) // (B, In, H, W) -> (B, Out, H, W)
	}
	return nn.AddInPlace(h, x)
}
