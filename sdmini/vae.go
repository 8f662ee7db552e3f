package sdmini

import (
	"math/rand/v2"
	"slices"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/grad/layers"
	"github.com/sdgo/sdgo/vae"
)

// vaeNormEps is the GroupNorm epsilon of every norm in the VAE.
const vaeNormEps = 1e-6

// VAE is Stable Diffusion's autoencoder (diffusers' AutoencoderKL) in grad
// operations, the trainable twin of vae.Model, parameters named as diffusers
// names them (encoder.…, quant_conv, post_quant_conv, decoder.…).
type VAE struct {
	Config        vae.Config
	Encoder       *vaeEncoder
	Decoder       *vaeDecoder
	QuantConv     *layers.Conv2d // (2·Latent, 2·Latent, 1, 1), or nil
	PostQuantConv *layers.Conv2d // (Latent, Latent, 1, 1), or nil
}

// newVAEResnet creates the VAE's ResnetBlock2D (vae.Resnet): no timestep
// embedding.
func newVAEResnet(b layers.Builder, in, out, groups int) *layers.ResnetBlock2D {
	return layers.NewResnetBlock2D(b, in, out, 0, groups, vaeNormEps)
}

// vaeAttention is the mid block's one-head self-attention over positions
// (vae.Attention): diffusers' Attention with a GroupNorm, biases on to_q,
// to_k, to_v, and a residual connection.
type vaeAttention struct {
	GroupNorm layers.GroupNorm
	Attn      attention // to_q, to_k, to_v, to_out.0 beside group_norm; one head of width C
}

func newVAEAttention(b layers.Builder, ch, groups int) *vaeAttention {
	return &vaeAttention{
		GroupNorm: layers.NewGroupNorm(b.Sub("group_norm"), ch, groups, vaeNormEps),
		Attn:      newAttention(b, ch, ch, 1, true),
	}
}

// forward maps x (B, C, H, W) -> (B, C, H, W).
func (a *vaeAttention) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	s := x.Shape()
	seq := toTokens(tp, a.GroupNorm.Forward(tp, x)) // (B, H·W, C)
	o := a.Attn.forward(tp, seq, seq)               // self-attention: (B, H·W, C)
	return tp.Add(fromTokens(tp, o, s[2], s[3]), x)
}

// vaeMid is resnet → attention → resnet at the lowest resolution.
type vaeMid struct {
	Resnets   [2]*layers.ResnetBlock2D
	Attention *vaeAttention // nil without mid attention
}

func newVAEMid(b layers.Builder, ch int, cfg vae.Config) *vaeMid {
	m := &vaeMid{}
	m.Resnets[0] = newVAEResnet(b.Sub("resnets.0"), ch, ch, cfg.NormGroups)
	if cfg.MidAttention {
		m.Attention = newVAEAttention(b.Sub("attentions.0"), ch, cfg.NormGroups)
	}
	m.Resnets[1] = newVAEResnet(b.Sub("resnets.1"), ch, ch, cfg.NormGroups)
	return m
}

func (m *vaeMid) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	x = m.Resnets[0].Forward(tp, x, nil)
	if m.Attention != nil {
		x = m.Attention.forward(tp, x)
	}
	return m.Resnets[1].Forward(tp, x, nil)
}

// vaeBlock is one level of the encoder (diffusers' DownEncoderBlock2D,
// vae.DownBlock) or of the decoder (UpDecoderBlock2D, vae.UpBlock): its
// resnets, then the conv of its down- or upsampler.
type vaeBlock struct {
	Resnets []*layers.ResnetBlock2D // resnets.j
	Sampler *layers.Conv2d          // {down,up}samplers.0.conv: (C, C, 3, 3); nil at the last level
}

// newVAEBlocks creates the levels of the encoder (kind "down": down_blocks.i,
// each but the last ending in a stride-2 downsampler) or of the decoder (kind
// "up": up_blocks.i, each but the last ending in an upsampler's conv). Level
// i has perLevel resnets to out[i] channels, the first from the previous
// level's channels (in, at level 0).
func newVAEBlocks(b layers.Builder, kind string, in int, out []int, perLevel, groups int) []*vaeBlock {
	var blocks []*vaeBlock
	for i, ch := range out {
		lb := b.Subf("%s_blocks.%d", kind, i)
		blk := &vaeBlock{}
		for j := range perLevel {
			blk.Resnets = append(blk.Resnets, newVAEResnet(lb.Subf("resnets.%d", j), in, ch, groups))
			in = ch
		}
		if i < len(out)-1 {
			stride, pad := 1, 1 // after a nearest ×2 upsample
			if kind == "down" {
				stride, pad = 2, 0 // VAE.Encode pads right and bottom only
			}
			c := layers.NewConv2d(lb.Sub(kind+"samplers.0.conv"), ch, ch, 3, stride, pad)
			blk.Sampler = &c
		}
		blocks = append(blocks, blk)
	}
	return blocks
}

// vaeEncoder: conv_in, a down block per level, mid block, norm, conv_out.
type vaeEncoder struct {
	ConvIn      layers.Conv2d
	Down        []*vaeBlock // down_blocks.i, highest resolution first
	Mid         *vaeMid
	ConvNormOut layers.GroupNorm
	ConvOut     layers.Conv2d
}

// vaeDecoder: conv_in, mid block, an up block per level (lowest first),
// norm, conv_out.
type vaeDecoder struct {
	ConvIn      layers.Conv2d
	Mid         *vaeMid
	Up          []*vaeBlock // up_blocks.i, lowest resolution first
	ConvNormOut layers.GroupNorm
	ConvOut     layers.Conv2d
}

// NewVAE creates an autoencoder of configuration cfg with fresh weights.
func NewVAE(ps *grad.Params, r *rand.Rand, cfg vae.Config) (*VAE, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := layers.NewBuilder(ps, r)
	n, g := cfg.Levels(), cfg.NormGroups
	c0, top, lat := cfg.BlockOut[0], cfg.BlockOut[n-1], cfg.LatentChannels
	m := &VAE{Config: cfg}

	eb := b.Sub("encoder")
	e := &vaeEncoder{ConvIn: layers.NewConv2d(eb.Sub("conv_in"), cfg.InChannels, c0, 3, 1, 1)}
	e.Down = newVAEBlocks(eb, "down", c0, cfg.BlockOut, cfg.LayersPerBlock, g)
	e.Mid = newVAEMid(eb.Sub("mid_block"), top, cfg)
	e.ConvNormOut = layers.NewGroupNorm(eb.Sub("conv_norm_out"), top, g, vaeNormEps)
	e.ConvOut = layers.NewConv2d(eb.Sub("conv_out"), top, 2*lat, 3, 1, 1)
	m.Encoder = e

	if cfg.QuantConv {
		c := layers.NewConv2d(b.Sub("quant_conv"), 2*lat, 2*lat, 1, 1, 0)
		m.QuantConv = &c
	}
	if cfg.PostQuantConv {
		c := layers.NewConv2d(b.Sub("post_quant_conv"), lat, lat, 1, 1, 0)
		m.PostQuantConv = &c
	}

	db := b.Sub("decoder")
	d := &vaeDecoder{ConvIn: layers.NewConv2d(db.Sub("conv_in"), lat, top, 3, 1, 1)}
	d.Mid = newVAEMid(db.Sub("mid_block"), top, cfg)
	up := slices.Clone(cfg.BlockOut)
	slices.Reverse(up) // up_blocks.0 is the lowest resolution
	d.Up = newVAEBlocks(db, "up", top, up, cfg.LayersPerBlock+1, g)
	d.ConvNormOut = layers.NewGroupNorm(db.Sub("conv_norm_out"), c0, g, vaeNormEps)
	d.ConvOut = layers.NewConv2d(db.Sub("conv_out"), c0, cfg.OutChannels, 3, 1, 1)
	m.Decoder = d
	return m, nil
}

// Encode maps images x (B, In, H, W) in [-1, 1] to the moments of the
// latent distribution, mean and log-variance stacked, after quant_conv:
// (B, In, H, W) -> (B, 2·Latent, H/f, W/f). (The inference model clamps the
// log-variance to [-30, 20]; training leaves it free.)
func (m *VAE) Encode(tp *grad.Tape, x *grad.Var) *grad.Var {
	e := m.Encoder
	x = e.ConvIn.Forward(tp, x) // (B, In, H, W) -> (B, C0, H, W)
	for _, blk := range e.Down {
		for _, r := range blk.Resnets {
			x = r.Forward(tp, x, nil)
		}
		if c := blk.Sampler; c != nil {
			// LDM pads right and bottom only: (B, C, H, W) -> (B, C, H/2, W/2).
			x = tp.Conv2dPad(x, c.Weight, c.Bias, 2, 0, 1, 0, 1)
		}
	}
	x = e.Mid.forward(tp, x)
	x = e.ConvOut.Forward(tp, tp.SiLU(e.ConvNormOut.Forward(tp, x))) // (B, C, h, w) -> (B, 2·Latent, h, w)
	if m.QuantConv != nil {
		x = m.QuantConv.Forward(tp, x)
	}
	return x
}

// Decode maps z (B, Latent, h, w), the U-Net's latents divided by the
// scaling factor, to an image (B, Out, h·f, w·f), unclamped.
func (m *VAE) Decode(tp *grad.Tape, z *grad.Var) *grad.Var {
	if m.PostQuantConv != nil {
		z = m.PostQuantConv.Forward(tp, z)
	}
	d := m.Decoder
	x := d.ConvIn.Forward(tp, z) // (B, Latent, h, w) -> (B, C, h, w)
	x = d.Mid.forward(tp, x)
	for _, blk := range d.Up {
		for _, r := range blk.Resnets {
			x = r.Forward(tp, x, nil)
		}
		if c := blk.Sampler; c != nil {
			x = c.Forward(tp, tp.UpsampleNearest2x(x)) // (B, C, H, W) -> (B, C, 2H, 2W)
		}
	}
	return d.ConvOut.Forward(tp, tp.SiLU(d.ConvNormOut.Forward(tp, x))) // (B, C0, H, W) -> (B, Out, H, W)
}
