package sdmini

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/grad/layers"
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
	Config        unet.Config
	TimeEmbedding *layers.TimestepEmbedding // time_embedding: (C0) -> (4·C0)
	ConvIn        layers.Conv2d
	Down          []*unetDown
	Mid           *unetMid
	Up            []*unetUp // deepest first
	ConvNormOut   layers.GroupNorm
	ConvOut       layers.Conv2d
}

// newUNetResnet creates a resnet of cfg's U-Net, conditioned on the timestep.
func newUNetResnet(b layers.Builder, cfg unet.Config, in, out int) *layers.ResnetBlock2D {
	return layers.NewResnetBlock2D(b, in, out, cfg.TimeEmbedDim(), cfg.NormNumGroups, cfg.NormEps)
}

// attention is diffusers' Attention (unet.Attention, and the core of
// vae.Attention): to_q, to_k, to_v, and to_out.0 with a bias.
type attention struct {
	Q, K, V, Out layers.Linear
	heads        int
	probe        *crossProbe // set on cross-attentions by UNet.ProbeCrossAttention
}

// crossProbe is a cross-attention's hook with the side of its map.
type crossProbe struct {
	fn   CrossAttentionProbe
	h, w int
}

// newAttention creates an attention from dim-wide tokens to ctxDim-wide
// context tokens; bias adds biases to to_q, to_k and to_v (the VAE's; the
// U-Net's have none).
func newAttention(b layers.Builder, dim, ctxDim, heads int, bias bool) attention {
	return attention{
		Q:     layers.NewLinear(b.Sub("to_q"), dim, dim, bias),
		K:     layers.NewLinear(b.Sub("to_k"), ctxDim, dim, bias),
		V:     layers.NewLinear(b.Sub("to_v"), ctxDim, dim, bias),
		Out:   layers.NewLinear(b.Sub("to_out.0"), dim, dim, true),
		heads: heads,
	}
}

// forward attends from x (B, N, C) to ctx (B, M, Ctx): (B, N, C) -> (B, N, C).
func (a attention) forward(tp *grad.Tape, x, ctx *grad.Var) *grad.Var {
	q, k := a.Q.Forward(tp, x), a.K.Forward(tp, ctx) // in the order the training tape has always recorded them
	if a.probe != nil {
		a.probe.fn(tp, q, k, a.heads, a.probe.h, a.probe.w)
	}
	o := tp.Attention(q, k, a.V.Forward(tp, ctx), a.heads, false)
	return a.Out.Forward(tp, o)
}

type basicBlock struct {
	Norm1, Norm2, Norm3 layers.LayerNorm
	Attn1, Attn2        attention
	FFProj, FFOut       layers.Linear // ff.net.0.proj (C -> 8C), ff.net.2 (4C -> C)
}

type transformer2D struct {
	Norm    layers.GroupNorm
	ProjIn  layers.Linear // a (C, C) Linear (use_linear_projection; the 1×1 conv form holds the same numbers)
	Blocks  []*basicBlock
	ProjOut layers.Linear
	probe   CrossAttentionProbe // see UNet.ProbeCrossAttention
}

func newTransformer2D(b layers.Builder, cfg unet.Config, dim, heads, depth int) *transformer2D {
	t := &transformer2D{
		Norm:   layers.NewGroupNorm(b.Sub("norm"), dim, cfg.NormNumGroups, transformerNormEps),
		ProjIn: layers.NewLinear(b.Sub("proj_in"), dim, dim, true),
	}
	for i := range depth {
		tb := b.Subf("transformer_blocks.%d", i)
		t.Blocks = append(t.Blocks, &basicBlock{
			Norm1:  layers.NewLayerNorm(tb.Sub("norm1"), dim, blockNormEps),
			Attn1:  newAttention(tb.Sub("attn1"), dim, dim, heads, false),
			Norm2:  layers.NewLayerNorm(tb.Sub("norm2"), dim, blockNormEps),
			Attn2:  newAttention(tb.Sub("attn2"), dim, cfg.CrossAttentionDim, heads, false),
			Norm3:  layers.NewLayerNorm(tb.Sub("norm3"), dim, blockNormEps),
			FFProj: layers.NewLinear(tb.Sub("ff.net.0.proj"), dim, 8*dim, true),
			FFOut:  layers.NewLinear(tb.Sub("ff.net.2"), 4*dim, dim, true),
		})
	}
	t.ProjOut = layers.NewLinear(b.Sub("proj_out"), dim, dim, true)
	return t
}

// forward: (B, C, H, W) with ctx (B, M, Ctx) -> (B, C, H, W).
func (t *transformer2D) forward(tp *grad.Tape, x, ctx *grad.Var) *grad.Var {
	s := x.Shape()
	if t.probe != nil {
		for _, bl := range t.Blocks {
			bl.Attn2.probe = &crossProbe{t.probe, s[2], s[3]}
		}
	}
	tok := t.ProjIn.Forward(tp, toTokens(tp, t.Norm.Forward(tp, x))) // (B, H·W, C)
	for _, bl := range t.Blocks {
		n := bl.Norm1.Forward(tp, tok)
		tok = tp.Add(tok, bl.Attn1.forward(tp, n, n))                           // self-attention between pixels
		tok = tp.Add(tok, bl.Attn2.forward(tp, bl.Norm2.Forward(tp, tok), ctx)) // cross-attention to the prompt
		ff := tp.GEGLU(bl.FFProj.Forward(tp, bl.Norm3.Forward(tp, tok)))        // (B, N, C) -> (B, N, 8C) -> (B, N, 4C)
		tok = tp.Add(tok, bl.FFOut.Forward(tp, ff))                             // (B, N, 4C) -> (B, N, C)
	}
	tok = t.ProjOut.Forward(tp, tok)
	return tp.Add(fromTokens(tp, tok, s[2], s[3]), x)
}

type unetDown struct {
	Resnets    []*layers.ResnetBlock2D
	Attentions []*transformer2D // empty for DownBlock2D
	Downsample *layers.Conv2d   // nil at the last level
}

type unetMid struct {
	Resnets   [2]*layers.ResnetBlock2D
	Attention *transformer2D
}

type unetUp struct {
	Resnets    []*layers.ResnetBlock2D
	Attentions []*transformer2D // empty for UpBlock2D
	Upsample   *layers.Conv2d   // nil at the top
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
	b := layers.NewBuilder(ps, r)
	c0, n := cfg.BlockOutChannels[0], cfg.Levels()
	m := &UNet{
		Config:        cfg,
		TimeEmbedding: layers.NewTimestepEmbedding(b.Sub("time_embedding"), c0, cfg.TimeEmbedDim()),
		ConvIn:        layers.NewConv2d(b.Sub("conv_in"), cfg.InChannels, c0, 3, 1, 1),
	}
	skipCh := []int{c0}
	in := c0
	for i := range n {
		out := cfg.BlockOutChannels[i]
		db := b.Subf("down_blocks.%d", i)
		d := &unetDown{}
		for j := range cfg.LayersPerBlock {
			d.Resnets = append(d.Resnets, newUNetResnet(db.Subf("resnets.%d", j), cfg, in, out))
			if cfg.DownBlockTypes[i] == unet.CrossAttnDownBlock2D {
				d.Attentions = append(d.Attentions, newTransformer2D(db.Subf("attentions.%d", j), cfg, out, cfg.Heads[i], cfg.TransformerLayersPerBlock[i]))
			}
			in = out
			skipCh = append(skipCh, out)
		}
		if i < n-1 {
			c := layers.NewConv2d(db.Sub("downsamplers.0.conv"), out, out, 3, 2, cfg.DownsamplePadding)
			d.Downsample = &c
			skipCh = append(skipCh, out)
		}
		m.Down = append(m.Down, d)
	}
	top := cfg.BlockOutChannels[n-1]
	mb := b.Sub("mid_block")
	m.Mid = &unetMid{
		Resnets:   [2]*layers.ResnetBlock2D{newUNetResnet(mb.Sub("resnets.0"), cfg, top, top), newUNetResnet(mb.Sub("resnets.1"), cfg, top, top)},
		Attention: newTransformer2D(mb.Sub("attentions.0"), cfg, top, cfg.Heads[n-1], cfg.TransformerLayersPerBlock[n-1]),
	}
	for i := range n {
		level := n - 1 - i
		out := cfg.BlockOutChannels[level]
		ub := b.Subf("up_blocks.%d", i)
		u := &unetUp{}
		for j := range cfg.LayersPerBlock + 1 {
			skip := skipCh[len(skipCh)-1]
			skipCh = skipCh[:len(skipCh)-1]
			u.Resnets = append(u.Resnets, newUNetResnet(ub.Subf("resnets.%d", j), cfg, in+skip, out))
			if cfg.UpBlockTypes[i] == unet.CrossAttnUpBlock2D {
				u.Attentions = append(u.Attentions, newTransformer2D(ub.Subf("attentions.%d", j), cfg, out, cfg.Heads[level], cfg.TransformerLayersPerBlock[level]))
			}
			in = out
		}
		if level > 0 {
			c := layers.NewConv2d(ub.Sub("upsamplers.0.conv"), out, out, 3, 1, 1)
			u.Upsample = &c
		}
		m.Up = append(m.Up, u)
	}
	m.ConvNormOut = layers.NewGroupNorm(b.Sub("conv_norm_out"), c0, cfg.NormNumGroups, cfg.NormEps)
	m.ConvOut = layers.NewConv2d(b.Sub("conv_out"), c0, cfg.OutChannels, 3, 1, 1)
	return m, nil
}

// Forward predicts the noise in x (B, C_in, h, w) at timesteps t (B values)
// under the text context ctx (B, M, CrossAttentionDim): unet.Model.Forward.
// h and w must be multiples of 2^(levels−1).
func (m *UNet) Forward(tp *grad.Tape, x *grad.Var, t []float32, ctx *grad.Var) *grad.Var {
	cfg := m.Config
	// 1. Timestep: sinusoidal features (no weights), then the MLP.
	proj := grad.Const(nn.TimestepEmbedding(t, cfg.BlockOutChannels[0], cfg.FlipSinToCos, cfg.FreqShift, timeMaxPeriod)) // (B, C0)
	embAct := tp.SiLU(m.TimeEmbedding.Forward(tp, proj))                                                                 // (B, C0) -> (B, 4·C0)

	// 2. Pre-process.
	h := m.ConvIn.Forward(tp, x) // (B, C_in, h, w) -> (B, C0, h, w)
	skips := []*grad.Var{h}

	// 3. Down, pushing skips.
	for _, d := range m.Down {
		for j, r := range d.Resnets {
			h = r.Forward(tp, h, embAct)
			if len(d.Attentions) > 0 {
				h = d.Attentions[j].forward(tp, h, ctx)
			}
			skips = append(skips, h)
		}
		if d.Downsample != nil {
			h = d.Downsample.Forward(tp, h) // (B, C, H, W) -> (B, C, H/2, W/2)
			skips = append(skips, h)
		}
	}

	// 4. Mid.
	h = m.Mid.Resnets[0].Forward(tp, h, embAct)
	h = m.Mid.Attention.forward(tp, h, ctx)
	h = m.Mid.Resnets[1].Forward(tp, h, embAct)

	// 5. Up, popping skips: [hidden, skip] along the channels.
	for _, u := range m.Up {
		for j, r := range u.Resnets {
			s := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			h = r.Forward(tp, tp.Concat(h, s), embAct) // (B, In+S, H, W) -> (B, Out, H, W)
			if len(u.Attentions) > 0 {
				h = u.Attentions[j].forward(tp, h, ctx)
			}
		}
		if u.Upsample != nil {
			h = u.Upsample.Forward(tp, tp.UpsampleNearest2x(h)) // (B, C, H, W) -> (B, C, 2H, 2W)
		}
	}

	// 6. Post-process.
	h = tp.SiLU(m.ConvNormOut.Forward(tp, h))
	return m.ConvOut.Forward(tp, h) // (B, C0, h, w) -> (B, C_out, h, w)
}

// CrossAttentionProbe sees a cross-attention's queries q (B, h·w, C) and
// keys k (B, M, C) as they are recorded on the tape, with the number of
// heads and the side of the map (h, w); it may record more operations on
// them (grad.Tape.AttentionProbs, to put a loss on the maps).
type CrossAttentionProbe func(tp *grad.Tape, q, k *grad.Var, heads, h, w int)

// ProbeCrossAttention makes every cross-attention of the U-Net call fn in
// Forward (nil removes it). Inference-time guidance (package bind) reads the
// maps this way; training never sets it.
func (m *UNet) ProbeCrossAttention(fn CrossAttentionProbe) {
	var ts []*transformer2D
	for _, d := range m.Down {
		ts = append(ts, d.Attentions...)
	}
	ts = append(ts, m.Mid.Attention)
	for _, u := range m.Up {
		ts = append(ts, u.Attentions...)
	}
	for _, t := range ts {
		t.probe = fn
		for _, bl := range t.Blocks {
			bl.Attn2.probe = nil
		}
	}
}
