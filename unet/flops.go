package unet

// ContextLen is the length of the text context Stable Diffusion's text
// encoders produce (77 tokens), used by FLOPs.
const ContextLen = 77

// FLOPs counts, analytically, the floating-point operations of one Forward
// on a batch of b latents of h×w: 2 per multiply-add of every convolution,
// linear layer and attention product (Q·Kᵀ and scores·V), with a context of
// ContextLen tokens. Norms, activations, softmax and additions are left out
// (they are a fraction of a percent). It mirrors the structure Load builds.
//
// For SD 1.5 at 64×64 latents and batch 1 it gives 804 GFLOP: 678 GFLOP in
// the convolutions and linear layers (339 G multiply-adds, the figure
// compression papers such as BK-SDM quote for this U-Net) and 126 GFLOP in
// the attention products, 87% of which at the 64×64 level.
func FLOPs(cfg Config, b, h, w int) float64 {
	var f float64
	conv := func(in, out, k, oh, ow int) { f += 2 * float64(b*oh*ow) * float64(out*in*k*k) }
	linear := func(rows, in, out int) { f += 2 * float64(rows) * float64(in*out) }
	resnet := func(in, out, h, w int) {
		conv(in, out, 3, h, w)
		linear(b, cfg.TimeEmbedDim(), out)
		conv(out, out, 3, h, w)
		if in != out {
			conv(in, out, 1, h, w)
		}
	}
	transformer := func(c, level, h, w int) {
		n, m := b*h*w, b*ContextLen // token rows
		linear(n, c, c)             // proj_in
		for range cfg.TransformerLayersPerBlock[level] {
			linear(n, c, c) // attn1: to_q, to_k, to_v, to_out
			linear(n, c, c)
			linear(n, c, c)
			linear(n, c, c)
			f += 2 * 2 * float64(n) * float64(h*w) * float64(c) // Q·Kᵀ and scores·V over all heads
			linear(n, c, c)                                     // attn2: to_q
			linear(m, cfg.CrossAttentionDim, c)                 // to_k, to_v on the context
			linear(m, cfg.CrossAttentionDim, c)
			linear(n, c, c) // to_out
			f += 2 * 2 * float64(n) * float64(ContextLen) * float64(c)
			linear(n, c, 8*c) // ff: GEGLU projection, then back
			linear(n, 4*c, c)
		}
		linear(n, c, c) // proj_out
	}

	c0 := cfg.BlockOutChannels[0]
	linear(b, c0, cfg.TimeEmbedDim()) // time embedding MLP
	linear(b, cfg.TimeEmbedDim(), cfg.TimeEmbedDim())
	if cfg.AdditionEmbedType == TextTime { // SDXL's add_embedding MLP
		linear(b, cfg.ProjectionClassEmbeddingsInputDim, cfg.TimeEmbedDim())
		linear(b, cfg.TimeEmbedDim(), cfg.TimeEmbedDim())
	}
	conv(cfg.InChannels, c0, 3, h, w)

	// Down, recording each skip's channels and size as Forward pushes them.
	type skip struct{ c, h, w int }
	skips := []skip{{c0, h, w}}
	in := c0
	for i, out := range cfg.BlockOutChannels {
		for range cfg.LayersPerBlock {
			resnet(in, out, h, w)
			if cfg.DownBlockTypes[i] == CrossAttnDownBlock2D {
				transformer(out, i, h, w)
			}
			skips = append(skips, skip{out, h, w})
			in = out
		}
		if i < cfg.Levels()-1 {
			h, w = (h+1)/2, (w+1)/2 // stride 2, padding 1
			conv(out, out, 3, h, w)
			skips = append(skips, skip{out, h, w})
		}
	}

	last := cfg.Levels() - 1
	resnet(in, in, h, w) // mid
	transformer(in, last, h, w)
	resnet(in, in, h, w)

	for i := range cfg.Levels() {
		level := last - i
		out := cfg.BlockOutChannels[level]
		for range cfg.LayersPerBlock + 1 {
			s := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			resnet(in+s.c, out, h, w)
			if cfg.UpBlockTypes[i] == CrossAttnUpBlock2D {
				transformer(out, level, h, w)
			}
			in = out
		}
		if level > 0 {
			h, w = skips[len(skips)-1].h, skips[len(skips)-1].w
			conv(out, out, 3, h, w)
		}
	}
	conv(c0, cfg.OutChannels, 3, h, w)
	return f
}
