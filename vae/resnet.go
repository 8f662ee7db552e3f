package vae

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Resnet is diffusers' ResnetBlock2D as the VAE uses it (LDM: ResnetBlock):
// two GroupNorm→SiLU→conv 3×3 steps and a residual connection, with no
// timestep embedding. When the channel count changes, the residual goes
// through a 1×1 convolution (LDM: nin_shortcut).
type Resnet struct {
	Norm1        layer.GroupNorm // (In)
	Conv1        layer.Conv2d    // (Out, In, 3, 3)
	Norm2        layer.GroupNorm // (Out)
	Conv2        layer.Conv2d    // (Out, Out, 3, 3)
	ConvShortcut *layer.Conv2d   // (Out, In, 1, 1), only when In ≠ Out
}

func loadResnet(ld *weights.Loader, in, out, groups int) *Resnet {
	r := &Resnet{
		Norm1: layer.NewGroupNorm(ld.Sub("norm1"), in, groups, normEps),
		Conv1: layer.NewConv2d(ld.Sub("conv1"), in, out, 3, 1, 1),
		Norm2: layer.NewGroupNorm(ld.Sub("norm2"), out, groups, normEps),
		Conv2: layer.NewConv2d(ld.Sub("conv2"), out, out, 3, 1, 1),
	}
	if in != out {
		c := layer.NewConv2d(ld.Sub("conv_shortcut"), in, out, 1, 1, 0)
		r.ConvShortcut = &c
	}
	return r
}

// Forward maps x (B, In, H, W) -> (B, Out, H, W).
func (r *Resnet) Forward(x *nn.Tensor) *nn.Tensor { return r.forward(x, nil) }

// forward is Forward with the norms' statistics shared across tiles (see
// tiled.go). Each GroupNorm → SiLU → conv runs fused, so the normalised
// tensors are never held: at most x, h and the block's output exist at once.
func (r *Resnet) forward(x *nn.Tensor, ns *normState) *nn.Tensor {
	h := ns.normSiLUConv(r.Norm1, r.Conv1, x) // (B, In, H, W) -> (B, Out, H, W)
	h = ns.normSiLUConv(r.Norm2, r.Conv2, h)  // (B, Out, H, W), the first h is garbage now
	if r.ConvShortcut != nil {
		x = r.ConvShortcut.Forward(x) // (B, In, H, W) -> (B, Out, H, W)
	}
	return nn.AddInPlace(h, x)
}
