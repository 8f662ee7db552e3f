package sdmini

import (
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
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
	QuantConv     *conv // (2·Latent, 2·Latent, 1, 1), or nil
	PostQuantConv *conv // (Latent, Latent, 1, 1), or nil
}

// vaeResnet is the VAE's ResnetBlock2D: no timestep embedding.
type vaeResnet struct {
	Norm1, Norm2 norm
	Conv1, Conv2 conv
	ConvShortcut *conv // when in ≠ out
}

func (b builder) vaeResnet(in, out, groups int) *vaeResnet {
	r := &vaeResnet{
		Norm1: b.sub("norm1").groupNorm(in, groups, vaeNormEps),
		Conv1: b.sub("conv1").conv(in, out, 3, 1, 1),
		Norm2: b.sub("norm2").groupNorm(out, groups, vaeNormEps),
		Conv2: b.sub("conv2").conv(out, out, 3, 1, 1),
	}
	if in != out {
		c := b.sub("conv_shortcut").conv(in, out, 1, 1, 0)
		r.ConvShortcut = &c
	}
	return r
}

// forward maps x (B, In, H, W) -> (B, Out, H, W).
func (r *vaeResnet) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	h := r.Conv1.forward(tp, tp.SiLU(r.Norm1.forward(tp, x))) // (B, In, H, W) -> (B, Out, H, W)
	h = r.Conv2.forward(tp, tp.SiLU(r.Norm2.forward(tp, h)))
	if r.ConvShortcut != nil {
		x = r.ConvShortcut.forward(tp, x)
	}
	return tp.Add(h, x)
}

// vaeAttention is the mid block's one-head self-attention over positions.
type vaeAttention struct {
	GroupNorm    norm
	Q, K, V, Out linear
}

func (b builder) vaeAttention(ch, groups int) *vaeAttention {
	return &vaeAttention{
		GroupNorm: b.sub("group_norm").groupNorm(ch, groups, vaeNormEps),
		Q:         b.sub("to_q").linear(ch, ch, true),
		K:         b.sub("to_k").linear(ch, ch, true),
		V:         b.sub("to_v").linear(ch, ch, true),
		Out:       b.sub("to_out.0").linear(ch, ch, true),
	}
}

// forward maps x (B, C, H, W) -> (B, C, H, W).
func (a *vaeAttention) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	s := x.Shape()
	seq := toTokens(tp, a.GroupNorm.forward(tp, x))                                               // (B, H·W, C)
	o := tp.Attention(a.Q.forward(tp, seq), a.K.forward(tp, seq), a.V.forward(tp, seq), 1, false) // one head of width C
	o = a.Out.forward(tp, o)                                                                      // (B, H·W, C)
	return tp.Add(fromTokens(tp, o, s[2], s[3]), x)
}

// vaeMid is resnet → attention → resnet at the lowest resolution.
type vaeMid struct {
	Resnets   [2]*vaeResnet
	Attention *vaeAttention // nil without mid attention
}

func (b builder) vaeMid(ch int, cfg vae.Config) *vaeMid {
	m := &vaeMid{}
	m.Resnets[0] = b.sub("resnets.0").vaeResnet(ch, ch, cfg.NormGroups)
	if cfg.MidAttention {
		m.Attention = b.sub("attentions.0").vaeAttention(ch, cfg.NormGroups)
	}
	m.Resnets[1] = b.sub("resnets.1").vaeResnet(ch, ch, cfg.NormGroups)
	return m
}

func (m *vaeMid) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	x = m.Resnets[0].forward(tp, x)
	if m.Attention != nil {
		x = m.Attention.forward(tp, x)
	}
	return m.Resnets[1].forward(tp, x)
}

// vaeEncoder: conv_in, a down block per level, mid block, norm, conv_out.
type vaeEncoder struct {
	ConvIn      conv
	Down        [][]*vaeResnet // down_blocks.i.resnets.j
	Downsample  []*conv        // down_blocks.i.downsamplers.0.conv, nil at the last level
	Mid         *vaeMid
	ConvNormOut norm
	ConvOut     conv
}

// vaeDecoder: conv_in, mid block, an up block per level (lowest first),
// norm, conv_out.
type vaeDecoder struct {
	ConvIn      conv
	Mid         *vaeMid
	Up          [][]*vaeResnet // up_blocks.i.resnets.j
	Upsample    []*conv        // up_blocks.i.upsamplers.0.conv, nil at the last level
	ConvNormOut norm
	ConvOut     conv
}

// NewVAE creates an autoencoder of configuration cfg with fresh weights.
func NewVAE(ps *grad.Params, r *rand.Rand, cfg vae.Config) (*VAE, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := newBuilder(ps, r, "")
	n, g := cfg.Levels(), cfg.NormGroups
	top, lat := cfg.BlockOut[n-1], cfg.LatentChannels
	m := &VAE{Config: cfg}

	eb := b.sub("encoder")
	e := &vaeEncoder{ConvIn: eb.sub("conv_in").conv(cfg.InChannels, cfg.BlockOut[0], 3, 1, 1)}
	prev := cfg.BlockOut[0]
	for i, out := range cfg.BlockOut {
		var rs []*vaeResnet
		for j := range cfg.LayersPerBlock {
			rs = append(rs, eb.subf("down_blocks.%d.resnets.%d", i, j).vaeResnet(prev, out, g))
			prev = out
		}
		e.Down = append(e.Down, rs)
		var ds *conv
		if i < n-1 {
			c := eb.subf("down_blocks.%d.downsamplers.0.conv", i).conv(out, out, 3, 2, 0)
			ds = &c
		}
		e.Downsample = append(e.Downsample, ds)
	}
	e.Mid = eb.sub("mid_block").vaeMid(top, cfg)
	e.ConvNormOut = eb.sub("conv_norm_out").groupNorm(top, g, vaeNormEps)
	e.ConvOut = eb.sub("conv_out").conv(top, 2*lat, 3, 1, 1)
	m.Encoder = e

	if cfg.QuantConv {
		c := b.sub("quant_conv").conv(2*lat, 2*lat, 1, 1, 0)
		m.QuantConv = &c
	}
	if cfg.PostQuantConv {
		c := b.sub("post_quant_conv").conv(lat, lat, 1, 1, 0)
		m.PostQuantConv = &c
	}

	db := b.sub("decoder")
	d := &vaeDecoder{ConvIn: db.sub("conv_in").conv(lat, top, 3, 1, 1)}
	d.Mid = db.sub("mid_block").vaeMid(top, cfg)
	prev = top
	for i := range n {
		out := cfg.BlockOut[n-1-i]
		var rs []*vaeResnet
		for j := range cfg.LayersPerBlock + 1 {
			rs = append(rs, db.subf("up_blocks.%d.resnets.%d", i, j).vaeResnet(prev, out, g))
			prev = out
		}
		d.Up = append(d.Up, rs)
		var us *conv
		if i < n-1 {
			c := db.subf("up_blocks.%d.upsamplers.0.conv", i).conv(out, out, 3, 1, 1)
			us = &c
		}
		d.Upsample = append(d.Upsample, us)
	}
	d.ConvNormOut = db.sub("conv_norm_out").groupNorm(cfg.BlockOut[0], g, vaeNormEps)
	d.ConvOut = db.sub("conv_out").conv(cfg.BlockOut[0], cfg.OutChannels, 3, 1, 1)
	m.Decoder = d
	return m, nil
}

// Encode maps images x (B, In, H, W) in [-1, 1] to the moments of the
// latent distribution, mean and log-variance stacked, after quant_conv:
// (B, In, H, W) -> (B, 2·Latent, H/f, W/f). (The inference model clamps the
// log-variance to [-30, 20]; training leaves it free.)
func (m *VAE) Encode(tp *grad.Tape, x *grad.Var) *grad.Var {
	e := m.Encoder
	x = e.ConvIn.forward(tp, x) // (B, In, H, W) -> (B, C0, H, W)
	for i, rs := range e.Down {
		for _, r := range rs {
			x = r.forward(tp, x)
		}
		if c := e.Downsample[i]; c != nil {
			// LDM pads right and bottom only: (B, C, H, W) -> (B, C, H/2, W/2).
			x = tp.Conv2dPad(x, c.W, c.B, 2, 0, 1, 0, 1)
		}
	}
	x = e.Mid.forward(tp, x)
	x = e.ConvOut.forward(tp, tp.SiLU(e.ConvNormOut.forward(tp, x))) // (B, C, h, w) -> (B, 2·Latent, h, w)
	if m.QuantConv != nil {
		x = m.QuantConv.forward(tp, x)
	}
	return x
}

// Decode maps z (B, Latent, h, w), the U-Net's latents divided by the
// scaling factor, to an image (B, Out, h·f, w·f), unclamped.
func (m *VAE) Decode(tp *grad.Tape, z *grad.Var) *grad.Var {
	if m.PostQuantConv != nil {
		z = m.PostQuantConv.forward(tp, z)
	}
	d := m.Decoder
	x := d.ConvIn.forward(tp, z) // (B, Latent, h, w) -> (B, C, h, w)
	x = d.Mid.forward(tp, x)
	for i, rs := range d.Up {
		for _, r := range rs {
			x = r.forward(tp, x)
		}
		if c := d.Upsample[i]; c != nil {
			x = c.forward(tp, tp.UpsampleNearest2x(x)) // (B, C, H, W) -> (B, C, 2H, 2W)
		}
	}
	return d.ConvOut.forward(tp, tp.SiLU(d.ConvNormOut.forward(tp, x))) // (B, C0, H, W) -> (B, Out, H, W)
}
