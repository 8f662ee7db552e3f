package vae

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Decoder maps a latent z to an image (diffusers' Decoder; LDM: decoder):
// conv_in at the latent resolution, the mid block, then one up block per
// level from the lowest resolution up, each doubling the size except the
// last, and GroupNorm → SiLU → conv_out to image channels.
type Decoder struct {
	ConvIn      layer.Conv2d    // (BlockOut[n-1], Latent, 3, 3)
	MidBlock    *MidBlock       // BlockOut[n-1] channels
	UpBlocks    []*UpBlock      // n levels, lowest resolution first
	ConvNormOut layer.GroupNorm // (BlockOut[0])
	ConvOut     layer.Conv2d    // (Out, BlockOut[0], 3, 3)

	// Trace, when set, is called with intermediate activations under the
	// reference data's names (dec.conv_in, dec.mid.attn, dec.mid, dec.up0, …,
	// dec.conv_norm_out). For tests and debugging.
	Trace func(name string, t *nn.Tensor)
}

// UpBlock is one level of the decoder (diffusers' UpDecoderBlock2D; LDM:
// up.{n-1-i}): LayersPerBlock+1 resnets, then, except at the last level,
// a nearest ×2 upsample followed by a 3×3 convolution.
type UpBlock struct {
	Resnets    []*Resnet
	Upsamplers []layer.Conv2d // diffusers' upsamplers.0.conv; empty at the last level
}

func loadDecoder(ld *weights.Loader, cfg Config) *Decoder {
	n := cfg.Levels()
	top := cfg.BlockOut[n-1]
	d := &Decoder{
		ConvIn:      layer.NewConv2d(ld.Sub("conv_in"), cfg.LatentChannels, top, 3, 1, 1),
		MidBlock:    loadMid(ld.Sub("mid_block"), top, cfg),
		ConvNormOut: layer.NewGroupNorm(ld.Sub("conv_norm_out"), cfg.BlockOut[0], cfg.NormGroups, normEps),
		ConvOut:     layer.NewConv2d(ld.Sub("conv_out"), cfg.BlockOut[0], cfg.OutChannels, 3, 1, 1),
	}
	prev := top
	for i := 0; i < n; i++ {
		out := cfg.BlockOut[n-1-i] // levels in reverse: up_blocks.0 is the lowest resolution
		bl := ld.Subf("up_blocks.%d", i)
		b := &UpBlock{}
		for j := 0; j <= cfg.LayersPerBlock; j++ {
			in := out
			if j == 0 {
				in = prev
			}
			b.Resnets = append(b.Resnets, loadResnet(bl.Subf("resnets.%d", j), in, out, cfg.NormGroups))
		}
		if i < n-1 {
			b.Upsamplers = []layer.Conv2d{layer.NewConv2d(bl.Sub("upsamplers.0.conv"), out, out, 3, 1, 1)}
		}
		d.UpBlocks = append(d.UpBlocks, b)
		prev = out
	}
	return d
}

// Forward decodes z (B, Latent, h, w) -> (B, Out, h·f, w·f) with f the
// config's scale factor. z has been through post_quant_conv already:
// [Model.Decode] takes diffusers' vae.decode input (the UNet's latents
// divided by the scaling factor) and applies it. The output is in about
// [-1, 1], unclamped.
func (d *Decoder) Forward(z *nn.Tensor) *nn.Tensor {
	return d.Up(d.Mid(z))
}

// Mid runs the decoder's low-resolution part, conv_in and the mid block:
// z (B, Latent, h, w) -> (B, BlockOut[n-1], h, w). Its attention sees every
// latent position, so tiled decoding runs it whole.
func (d *Decoder) Mid(z *nn.Tensor) *nn.Tensor {
	x := d.ConvIn.Forward(z) // (B, Latent, h, w) -> (B, C, h, w)
	d.trace("dec.conv_in", x)
	x = d.MidBlock.forward(x, func(t *nn.Tensor) { d.trace("dec.mid.attn", t) })
	d.trace("dec.mid", x)
	return x
}

// Up runs the rest: the up blocks and the output head,
// (B, BlockOut[n-1], h, w) -> (B, Out, h·f, w·f). It is local (each output
// pixel depends on a bounded neighbourhood) except for the GroupNorm
// statistics, so it can run tile by tile.
func (d *Decoder) Up(x *nn.Tensor) *nn.Tensor {
	return d.out(d.upBlocks(x, nil, 0, len(d.UpBlocks)), nil)
}

// upBlocks runs up blocks [from, to), with the norms' statistics shared
// across tiles when ns is not nil (see tiled.go).
func (d *Decoder) upBlocks(x *nn.Tensor, ns *normState, from, to int) *nn.Tensor {
	for i := from; i < to; i++ {
		b := d.UpBlocks[i]
		for _, r := range b.Resnets {
			x = r.forward(x, ns)
		}
		for _, u := range b.Upsamplers {
			x = u.ForwardUpsample2x(x) // (B, C, H, W) -> (B, C, 2H, 2W), nearest then conv
		}
		d.trace(fmt.Sprintf("dec.up%d", i), x)
	}
	return x
}

// out is the output head: GroupNorm → SiLU → conv_out, fused unless a
// Trace wants the normalised tensor.
func (d *Decoder) out(x *nn.Tensor, ns *normState) *nn.Tensor {
	if d.Trace == nil {
		return ns.normSiLUConv(d.ConvNormOut, d.ConvOut, x) // (B, BlockOut[0], H, W) -> (B, Out, H, W)
	}
	x = ns.norm(d.ConvNormOut, x)
	d.trace("dec.conv_norm_out", x)
	return d.ConvOut.Forward(nn.SiLU(x)) // (B, BlockOut[0], H, W) -> (B, Out, H, W)
}

func (d *Decoder) trace(name string, t *nn.Tensor) {
	if d.Trace != nil {
		d.Trace(name, t)
	}
}
