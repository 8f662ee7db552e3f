package unet

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Epsilons fixed by diffusers' Transformer2DModel and BasicTransformerBlock
// (not read from the U-Net config, whose norm_eps is the resnets').
const (
	transformerNormEps = 1e-6 // the GroupNorm before proj_in
	layerNormEps       = 1e-5 // norm1, norm2, norm3
)

// Transformer2D is a spatial transformer (diffusers' Transformer2DModel, LDM
// "SpatialTransformer"): it reads the feature map as a sequence of H·W
// tokens, runs transformer blocks over them, and adds the result back:
//
//	tokens = proj_in(norm(x))        (B, C, H, W) -> (B, H·W, C)
//	tokens = blocks(tokens, context)
//	out    = x + proj_out(tokens)    (B, H·W, C) -> (B, C, H, W)
//
// SD 1.x stores proj_in/proj_out as 1×1 convolutions (C, C, 1, 1), SD 2.x as
// Linear layers (C, C). Both multiply each pixel's channel vector by the same
// matrix, so both are applied here as Linear on the tokens.
type Transformer2D struct {
	Norm              layer.GroupNorm          // norm: (C), eps 1e-6
	ProjIn            layer.Linear             // proj_in: (C, C)
	TransformerBlocks []*BasicTransformerBlock // transformer_blocks.N
	ProjOut           layer.Linear             // proj_out: (C, C)
}

func loadTransformer(ld *weights.Loader, cfg Config, dim, heads, layers int) *Transformer2D {
	t := &Transformer2D{
		Norm:    layer.NewGroupNorm(ld.Sub("norm"), dim, cfg.NormNumGroups, transformerNormEps),
		ProjIn:  layer.NewLinear(ld.Sub("proj_in"), dim, dim, true),
		ProjOut: layer.NewLinear(ld.Sub("proj_out"), dim, dim, true),
	}
	for i := range layers {
		t.TransformerBlocks = append(t.TransformerBlocks, loadBasicBlock(ld.Subf("transformer_blocks.%d", i), cfg, dim, heads))
	}
	return t
}

// Forward applies the transformer to x (B, C, H, W) with the text context
// ctx (B, M, Ctx): (B, C, H, W) -> (B, C, H, W), adding the result to x in
// place. trace, when not nil, receives the sub-outputs of the first block
// under name's prefix.
func (t *Transformer2D) Forward(x, ctx *nn.Tensor, trace tracer, name string) *nn.Tensor {
	tok := projectIn(t.ProjIn, t.Norm.Forward(x)) // (B, C, H, W) -> (B, H·W, C)
	trace.do(name+".proj_in", tok)
	for i, b := range t.TransformerBlocks {
		n := fmt.Sprintf("%s.tb%d", name, i)
		tok = b.Forward(tok, ctx, trace, n)
		trace.do(n, tok) // the block's output, residuals included
	}
	tok = t.ProjOut.Forward(tok) // (B, H·W, C) -> (B, H·W, C)
	return addTokens(x, tok)     // x += tokens as (B, C, H, W), in place
}

// BasicTransformerBlock is one pre-norm transformer layer with
// cross-attention:
//
//	x += attn1(norm1(x))            self-attention between pixels
//	x += attn2(norm2(x), context)   cross-attention to the prompt
//	x += ff(norm3(x))               GEGLU feed-forward
type BasicTransformerBlock struct {
	Norm1 layer.LayerNorm // norm1: (C)
	Attn1 *Attention      // attn1
	Norm2 layer.LayerNorm // norm2: (C)
	Attn2 *Attention      // attn2, keys/values from the context
	Norm3 layer.LayerNorm // norm3: (C)
	FF    *FeedForward    // ff
}

func loadBasicBlock(ld *weights.Loader, cfg Config, dim, heads int) *BasicTransformerBlock {
	return &BasicTransformerBlock{
		Norm1: layer.NewLayerNorm(ld.Sub("norm1"), dim, layerNormEps),
		Attn1: loadAttention(ld.Sub("attn1"), dim, dim, heads),
		Norm2: layer.NewLayerNorm(ld.Sub("norm2"), dim, layerNormEps),
		Attn2: loadAttention(ld.Sub("attn2"), dim, cfg.CrossAttentionDim, heads),
		Norm3: layer.NewLayerNorm(ld.Sub("norm3"), dim, layerNormEps),
		FF:    loadFeedForward(ld.Sub("ff"), dim),
	}
}

// Forward updates the tokens x (B, N, C) in place and returns them; ctx is
// (B, M, Ctx).
func (b *BasicTransformerBlock) Forward(x, ctx *nn.Tensor, trace tracer, name string) *nn.Tensor {
	a := b.Attn1.Forward(b.Norm1.Forward(x), nil) // (B, N, C) -> (B, N, C)
	trace.do(name+".attn1", a)
	nn.AddInPlace(x, a)

	a = b.Attn2.Forward(b.Norm2.Forward(x), ctx) // (B, N, C) × (B, M, Ctx) -> (B, N, C)
	trace.do(name+".attn2", a)
	nn.AddInPlace(x, a)

	a = b.FF.Forward(b.Norm3.Forward(x)) // (B, N, C) -> (B, N, C)
	trace.do(name+".ff", a)
	return nn.AddInPlace(x, a)
}
