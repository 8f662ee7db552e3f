package sdmini

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/unet"
)

// Epsilons fixed by diffusers' Transformer2DModel and BasicTransformerBlock.
const (
	transformerNormEps = 1e-6 // the GroupNorm before proj_in
	blockNormEps       = 1e-5 // norm1, norm2, norm3
	timeMaxPeriod      = 10000
)

// UNet is diffusers' UNet2DConditionModel in grad operations, the trainable
// twin of unet.Model, with its parameter names.
type UNet struct {
	Config      unet.Config
	TimeLinear1 linear // time_embedding.linear_1: (C0) -> (4·C0)
	TimeLinear2 linear // time_embedding.linear_2
	ConvIn      conv
	Down        []*unetDown
	Mid         *unetMid
	Up          []*unetUp // deepest first
	ConvNormOut norm
	ConvOut     conv
}

type unetResnet struct {
	Norm1, Norm2 norm
	Conv1, Conv2 conv
	TimeEmbProj  linear
	ConvShortcut *conv
}

func (b builder) unetResnet(cfg unet.Config, in, out int) *unetResnet {
	r := &unetResnet{
		Norm1:       b.sub("norm1").groupNorm(in, cfg.NormNumGroups, cfg.NormEps),
		Conv1:       b.sub("conv1").conv(in, out, 3, 1, 1),
		TimeEmbProj: b.sub("time_emb_proj").linear(cfg.TimeEmbedDim(), out, true),
		Norm2:       b.sub("norm2").groupNorm(out, cfg.NormNumGroups, cfg.NormEps),
		Conv2:       b.sub("conv2").conv(out, out, 3, 1, 1),
	}
	if in != out {
		c := b.sub("conv_shortcut").conv(in, out, 1, 1, 0)
		r.ConvShortcut = &c
	}
	return r
}

// forward: h = conv1(SiLU(norm1(x))) + time_emb_proj(SiLU(emb)) per channel;
// out = shortcut(x) + conv2(SiLU(norm2(h))). (B, In, H, W) -> (B, Out, H, W).
func (r *unetResnet) forward(tp *grad.Tape, x, embAct *grad.Var) *grad.Var {
	h := r.Conv1.forward(tp, tp.SiLU(r.Norm1.forward(tp, x)))
	h = tp.AddNC(h, r.TimeEmbProj.forward(tp, embAct)) // + (B, Out) at every pixel
	h = r.Conv2.forward(tp, tp.SiLU(r.Norm2.forward(tp, h)))
	if r.ConvShortcut != nil {
		x = r.ConvShortcut.forward(tp, x)
	}
	return tp.Add(h, x)
}

// attention is diffusers' Attention: to_q, to_k, to_v without bias, to_out.0.
type attention struct {
	Q, K, V, Out linear
	heads        int
}

func (b builder) attention(dim, ctxDim, heads int) attention {
	return attention{
		Q:     b.sub("to_q").linear(dim, dim, false),
		K:     b.sub("to_k").linear(ctxDim, dim, false),
		V:     b.sub("to_v").linear(ctxDim, dim, false),
		Out:   b.sub("to_out.0").linear(dim, dim, true),
		heads: heads,
	}
}

// forward attends from x (B, N, C) to ctx (B, M, Ctx): (B, N, C) -> (B, N, C).
func (a attention) forward(tp *grad.Tape, x, ctx *grad.Var) *grad.Var {
	o := tp.Attention(a.Q.forward(tp, x), a.K.forward(tp, ctx), a.V.forward(tp, ctx), a.heads, false)
	return a.Out.forward(tp, o)
}

type basicBlock struct {
	Norm1, Norm2, Norm3 norm
	Attn1, Attn2        attention
	FFProj, FFOut       linear // ff.net.0.proj (C -> 8C), ff.net.2 (4C -> C)
}

type transformer2D struct {
	Norm    norm
	ProjIn  linear // a (C, C) Linear (use_linear_projection; the 1×1 conv form holds the same numbers)
	Blocks  []*basicBlock
	ProjOut linear
}

func (b builder) transformer2D(cfg unet.Config, dim, heads, layers int) *transformer2D {
	t := &transformer2D{
		Norm:   b.sub("norm").groupNorm(dim, cfg.NormNumGroups, transformerNormEps),
		ProjIn: b.sub("proj_in").linear(dim, dim, true),
	}
	for i := range layers {
		tb := b.subf("transformer_blocks.%d", i)
		t.Blocks = append(t.Blocks, &basicBlock{
			Norm1:  tb.sub("norm1").layerNorm(dim, blockNormEps),
			Attn1:  tb.sub("attn1").attention(dim, dim, heads),
			Norm2:  tb.sub("norm2").layerNorm(dim, blockNormEps),
			Attn2:  tb.sub("attn2").attention(dim, cfg.CrossAttentionDim, heads),
			Norm3:  tb.sub("norm3").layerNorm(dim, blockNormEps),
			FFProj: tb.sub("ff.net.0.proj").linear(dim, 8*dim, true),
			FFOut:  tb.sub("ff.net.2").linear(4*dim, dim, true),
		})
	}
	t.ProjOut = b.sub("proj_out").linear(dim, dim, true)
	return t
}

// forward: (B, C, H, W) with ctx (B, M, Ctx) -> (B, C, H, W).
func (t *transformer2D) forward(tp *grad.Tape, x, ctx *grad.Var) *grad.Var {
	s := x.Shape()
	tok := t.ProjIn.forward(tp, toTokens(tp, t.Norm.forward(tp, x))) // (B, H·W, C)
	for _, bl := range t.Blocks {
		n := bl.Norm1.forward(tp, tok)
		tok = tp.Add(tok, bl.Attn1.forward(tp, n, n))                           // self-attention between pixels
		tok = tp.Add(tok, bl.Attn2.forward(tp, bl.Norm2.forward(tp, tok), ctx)) // cross-attention to the prompt
		ff := tp.GEGLU(bl.FFProj.forward(tp, bl.Norm3.forward(tp, tok)))        // (B, N, C) -> (B, N, 8C) -> (B, N, 4C)
		tok = tp.Add(tok, bl.FFOut.forward(tp, ff))                             // (B, N, 4C) -> (B, N, C)
	}
	tok = t.ProjOut.forward(tp, tok)
	return tp.Add(fromTokens(tp, tok, s[2], s[3]), x)
}

type unetDown struct {
	Resnets    []*unetResnet
	Attentions []*transformer2D // empty for DownBlock2D
	Downsample *conv            // nil at the last level
}

type unetMid struct {
	Resnets   [2]*unetResnet
	Attention *transformer2D
}

type unetUp struct {
	Resnets    []*unetResnet
	Attentions []*transformer2D // empty for UpBlock2D
	Upsample   *conv            // nil at the top
}

// NewUNet creates a U-Net of configuration cfg with fresh weights. The
// config must use linear projections in its transformers.
func NewUNet(ps *grad.Params, r *rand.Rand, cfg unet.Config) (*UNet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.UseLinearProjection {
		return nil, fmt.Errorf("sdmini: unet config: use_linear_projection must be true")
	}
	b := newBuilder(ps, r, "")
	c0, n := cfg.BlockOutChannels[0], cfg.Levels()
	m := &UNet{
		Config:      cfg,
		TimeLinear1: b.sub("time_embedding.linear_1").linear(c0, cfg.TimeEmbedDim(), true),
		TimeLinear2: b.sub("time_embedding.linear_2").linear(cfg.TimeEmbedDim(), cfg.TimeEmbedDim(), true),
		ConvIn:      b.sub("conv_in").conv(cfg.InChannels, c0, 3, 1, 1),
	}
	skipCh := []int{c0}
	in := c0
	for i := range n {
		out := cfg.BlockOutChannels[i]
		db := b.subf("down_blocks.%d", i)
		d := &unetDown{}
		for j := range cfg.LayersPerBlock {
			d.Resnets = append(d.Resnets, db.subf("resnets.%d", j).unetResnet(cfg, in, out))
			if cfg.DownBlockTypes[i] == unet.CrossAttnDownBlock2D {
				d.Attentions = append(d.Attentions, db.subf("attentions.%d", j).transformer2D(cfg, out, cfg.Heads[i], cfg.TransformerLayersPerBlock[i]))
			}
			in = out
			skipCh = append(skipCh, out)
		}
		if i < n-1 {
			c := db.sub("downsamplers.0.conv").conv(out, out, 3, 2, cfg.DownsamplePadding)
			d.Downsample = &c
			skipCh = append(skipCh, out)
		}
		m.Down = append(m.Down, d)
	}
	top := cfg.BlockOutChannels[n-1]
	mb := b.sub("mid_block")
	m.Mid = &unetMid{
		Resnets:   [2]*unetResnet{mb.sub("resnets.0").unetResnet(cfg, top, top), mb.sub("resnets.1").unetResnet(cfg, top, top)},
		Attention: mb.sub("attentions.0").transformer2D(cfg, top, cfg.Heads[n-1], cfg.TransformerLayersPerBlock[n-1]),
	}
	for i := range n {
		level := n - 1 - i
		out := cfg.BlockOutChannels[level]
		ub := b.subf("up_blocks.%d", i)
		u := &unetUp{}
		for j := range cfg.LayersPerBlock + 1 {
			skip := skipCh[len(skipCh)-1]
			skipCh = skipCh[:len(skipCh)-1]
			u.Resnets = append(u.Resnets, ub.subf("resnets.%d", j).unetResnet(cfg, in+skip, out))
			if cfg.UpBlockTypes[i] == unet.CrossAttnUpBlock2D {
				u.Attentions = append(u.Attentions, ub.subf("attentions.%d", j).transformer2D(cfg, out, cfg.Heads[level], cfg.TransformerLayersPerBlock[level]))
			}
			in = out
		}
		if level > 0 {
			c := ub.sub("upsamplers.0.conv").conv(out, out, 3, 1, 1)
			u.Upsample = &c
		}
		m.Up = append(m.Up, u)
	}
	m.ConvNormOut = b.sub("conv_norm_out").groupNorm(c0, cfg.NormNumGroups, cfg.NormEps)
	m.ConvOut = b.sub("conv_out").conv(c0, cfg.OutChannels, 3, 1, 1)
	return m, nil
}

// Forward predicts the noise in x (B, C_in, h, w) at timesteps t (B values)
// under the text context ctx (B, M, CrossAttentionDim): unet.Model.Forward.
// h and w must be multiples of 2^(levels−1).
func (m *UNet) Forward(tp *grad.Tape, x *grad.Var, t []float32, ctx *grad.Var) *grad.Var {
	cfg := m.Config
	// 1. Timestep: sinusoidal features (no weights), then the MLP.
	proj := grad.Const(nn.TimestepEmbedding(t, cfg.BlockOutChannels[0], cfg.FlipSinToCos, cfg.FreqShift, timeMaxPeriod)) // (B, C0)
	emb := m.TimeLinear2.forward(tp, tp.SiLU(m.TimeLinear1.forward(tp, proj)))                                           // (B, 4·C0)
	embAct := tp.SiLU(emb)

	// 2. Pre-process.
	h := m.ConvIn.forward(tp, x) // (B, C_in, h, w) -> (B, C0, h, w)
	skips := []*grad.Var{h}

	// 3. Down, pushing skips.
	for _, d := range m.Down {
		for j, r := range d.Resnets {
			h = r.forward(tp, h, embAct)
			if len(d.Attentions) > 0 {
				h = d.Attentions[j].forward(tp, h, ctx)
			}
			skips = append(skips, h)
		}
		if d.Downsample != nil {
			h = d.Downsample.forward(tp, h) // (B, C, H, W) -> (B, C, H/2, W/2)
			skips = append(skips, h)
		}
	}

	// 4. Mid.
	h = m.Mid.Resnets[0].forward(tp, h, embAct)
	h = m.Mid.Attention.forward(tp, h, ctx)
	h = m.Mid.Resnets[1].forward(tp, h, embAct)

	// 5. Up, popping skips: [hidden, skip] along the channels.
	for _, u := range m.Up {
		for j, r := range u.Resnets {
			s := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			h = r.forward(tp, tp.Concat(h, s), embAct) // (B, In+S, H, W) -> (B, Out, H, W)
			if len(u.Attentions) > 0 {
				h = u.Attentions[j].forward(tp, h, ctx)
			}
		}
		if u.Upsample != nil {
			h = u.Upsample.forward(tp, tp.UpsampleNearest2x(h)) // (B, C, H, W) -> (B, C, 2H, 2W)
		}
	}

	// 6. Post-process.
	h = tp.SiLU(m.ConvNormOut.forward(tp, h))
	return m.ConvOut.forward(tp, h) // (B, C0, h, w) -> (B, C_out, h, w)
}
