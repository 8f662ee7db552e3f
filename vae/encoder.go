package vae

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Encoder maps an image to the moments of the latent distribution
// (diffusers' Encoder; LDM: encoder): conv_in, one down block per level
// (each halving the size except the last), the mid block, and GroupNorm →
// SiLU → conv_out to 2·Latent channels: the mean and the log-variance.
type Encoder struct {
	ConvIn      layer.Conv2d    // (BlockOut[0], In, 3, 3)
	DownBlocks  []*DownBlock    // n levels, highest resolution first
	MidBlock    *MidBlock       // BlockOut[n-1] channels
	ConvNormOut layer.GroupNorm // (BlockOut[n-1])
	ConvOut     layer.Conv2d    // (2·Latent, BlockOut[n-1], 3, 3)

	// Trace, when set, is called with intermediate activations under the
	// reference data's names (enc.conv_in, enc.down0.downsample, enc.down0,
	// …, enc.mid, enc.conv_out).
	Trace func(name string, t *nn.Tensor)
}

// DownBlock is one level of the encoder (diffusers' DownEncoderBlock2D; LDM:
// down.i): LayersPerBlock resnets, then, except at the last level, a 3×3
// stride-2 convolution.
type DownBlock struct {
	Resnets      []*Resnet
	Downsamplers []layer.Conv2d // diffusers' downsamplers.0.conv; empty at the last level
}

func loadEncoder(ld *weights.Loader, cfg Config) *Encoder {
	n := cfg.Levels()
	top := cfg.BlockOut[n-1]
	e := &Encoder{
		ConvIn:      layer.NewConv2d(ld.Sub("conv_in"), cfg.InChannels, cfg.BlockOut[0], 3, 1, 1),
		MidBlock:    loadMid(ld.Sub("mid_block"), top, cfg),
		ConvNormOut: layer.NewGroupNorm(ld.Sub("conv_norm_out"), top, cfg.NormGroups, normEps),
		ConvOut:     layer.NewConv2d(ld.Sub("conv_out"), top, 2*cfg.LatentChannels, 3, 1, 1),
	}
	prev := cfg.BlockOut[0]
	for i, out := range cfg.BlockOut {
		bl := ld.Subf("down_blocks.%d", i)
		b := &DownBlock{}
		for j := 0; j < cfg.LayersPerBlock; j++ {
			in := out
			if j == 0 {
				in = prev
			}
			b.Resnets = append(b.Resnets, loadResnet(bl.Subf("resnets.%d", j), in, out, cfg.NormGroups))
		}
		if i < n-1 {
			b.Downsamplers = []layer.Conv2d{layer.NewConv2d(bl.Sub("downsamplers.0.conv"), out, out, 3, 1, 1)}
		}
		e.DownBlocks = append(e.DownBlocks, b)
		prev = out
	}
	return e
}

// Forward encodes x (B, In, H, W) in [-1, 1] -> moments (B, 2·Latent, H/f, W/f)
// before quant_conv (see [Model.Encode]).
func (e *Encoder) Forward(x *nn.Tensor) *nn.Tensor {
	return e.Head(e.Down(x))
}

// Down runs the encoder's high-resolution part, conv_in and the down blocks:
// (B, In, H, W) -> (B, BlockOut[n-1], H/f, W/f). It is local except for the
// GroupNorm statistics, so it can run tile by tile.
func (e *Encoder) Down(x *nn.Tensor) *nn.Tensor {
	return e.downBlocks(e.in(x), nil, 0, len(e.DownBlocks))
}

// in is conv_in: (B, In, H, W) -> (B, BlockOut[0], H, W).
func (e *Encoder) in(x *nn.Tensor) *nn.Tensor {
	x = e.ConvIn.Forward(x)
	e.trace("enc.conv_in", x)
	return x
}

// downBlocks runs down blocks [from, to), with the norms' statistics shared
// across tiles when ns is not nil (see tiled.go).
func (e *Encoder) downBlocks(x *nn.Tensor, ns *normState, from, to int) *nn.Tensor {
	for i := from; i < to; i++ {
		b := e.DownBlocks[i]
		for _, r := range b.Resnets {
			x = r.forward(x, ns)
		}
		for _, c := range b.Downsamplers {
			// Pad right and bottom only, then convolve with stride 2 and no
			// padding: (B, C, H, W) -> (B, C, H/2, W/2). This asymmetric pad
			// is LDM's; the UNet's downsampler pads 1 on every side.
			x = nn.Conv2dPad(x, c.Weight, c.Bias, 2, 0, 1, 0, 1)
			e.trace(fmt.Sprintf("enc.down%d.downsample", i), x)
		}
		e.trace(fmt.Sprintf("enc.down%d", i), x)
	}
	return x
}

// Head runs the rest at the latent resolution: the mid block (whose
// attention sees every position) and the output head,
// (B, BlockOut[n-1], h, w) -> (B, 2·Latent, h, w).
func (e *Encoder) Head(x *nn.Tensor) *nn.Tensor {
	x = e.MidBlock.forward(x, func(t *nn.Tensor) { e.trace("enc.mid.attn", t) })
	e.trace("enc.mid", x)
	x = e.ConvOut.ForwardNormSiLU(e.ConvNormOut, x) // GroupNorm → SiLU → conv: (B, C, h, w) -> (B, 2·Latent, h, w)
	e.trace("enc.conv_out", x)
	return x
}

func (e *Encoder) trace(name string, t *nn.Tensor) {
	if e.Trace != nil {
		e.Trace(name, t)
	}
}
