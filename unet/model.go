// Package unet is the noise predictor of Stable Diffusion: diffusers'
// UNet2DConditionModel for SD 1.x and 2.x, in plain Go.
//
// Given a noisy latent x (B, 4, H/8, W/8), the timestep t of each sample and
// the text context (B, 77, D) from the text encoder, it predicts the noise in
// x (or v, for v-prediction models; the scheduler knows which). The network
// is a U: an encoder that halves the resolution level by level, a bottleneck,
// and a decoder that doubles it back, with skip connections carrying each
// encoder activation across to the decoder:
//
//	t   → sinusoidal features → MLP → emb           (timestep embedding, embeddings.go)
//	x   → conv_in                                    (B, 4, h, w) -> (B, C0, h, w)
//	    → down blocks: resnets (+ transformers), stride-2 conv   (blocks.go)
//	    → mid block: resnet, transformer, resnet
//	    → up blocks: [hidden, skip] concat, resnets (+ transformers), nearest ×2 + conv
//	    → GroupNorm → SiLU → conv_out               (B, C0, h, w) -> (B, 4, h, w)
//
// Every resnet (resnet.go) adds the timestep embedding to its features; every
// spatial transformer (transformer.go) lets pixels attend to each other and,
// by cross-attention (attention.go), to the prompt's tokens.
//
// The Go types mirror the checkpoint's module tree in diffusers naming (the
// field Model.DownBlocks[1].Attentions[0] holds
// "down_blocks.1.attentions.0.*"); single-file checkpoints load through a
// renaming view, weights.UNetFromLDM.
//
// Memory and speed: [LoadPrecision] keeps an fp16 checkpoint's 860 M
// weights (SD 1.5) in half precision, read from the file's memory mapping
// (1.7 GB instead of 3.4 GB in float32), with the same results. A forward
// pass keeps only the skip connections and the current block's activations;
// the spatial transformers read the image as tokens through their proj_in
// product instead of a transposed copy.
package unet

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Model is a loaded UNet2DConditionModel.
type Model struct {
	Config        Config
	TimeEmbedding *TimestepEmbedding // time_embedding
	AddEmbedding  *TimestepEmbedding // add_embedding (SDXL's micro-conditioning), nil without
	ConvIn        layer.Conv2d       // conv_in: (C0, 4, 3, 3)
	DownBlocks    []*DownBlock       // down_blocks.N
	MidBlock      *MidBlock          // mid_block
	UpBlocks      []*UpBlock         // up_blocks.N, deepest first
	ConvNormOut   layer.GroupNorm    // conv_norm_out: (C0)
	ConvOut       layer.Conv2d       // conv_out: (4, C0, 3, 3)

	// Trace, when set, is called during Forward with intermediate activations
	// under the names of the diffusers reference data: "time_proj",
	// "time_embedding", "conv_in"; per block ("down0", "mid", "up1", …) its
	// resnet and transformer outputs ("down0.resnet0", "down0.attn0") and the
	// sub-layer outputs of each transformer block, before their residual add
	// ("down0.attn0.tb0.attn1", ".attn2", ".ff"); each block's output under
	// its name ("down0" is after the downsampler, "up0" after the
	// upsampler); "conv_norm_out". The tensor may be modified afterwards:
	// clone it to keep it.
	Trace func(name string, t *nn.Tensor)

	// BlockDone, when set, is called after each down block, the mid block
	// and each up block of Forward. The pipeline releases the checkpoint's
	// memory-mapped pages there, so that only about one block's weights are
	// resident at a time: the weights stream from the file (the page cache)
	// instead of all staying in the process's memory.
	BlockDone func()

	// Weights maps every tensor the model read to its checkpoint name in
	// diffusers naming ("down_blocks.0.attentions.0.proj_in.weight"): the
	// same tensors the fields hold, so that an adapter (package lora) can
	// replace a weight's values in place. Set by Load and LoadPrecision.
	Weights map[string]*nn.Tensor
}

// tracer is the optional activation hook handed down the blocks.
type tracer func(name string, t *nn.Tensor)

func (f tracer) do(name string, t *nn.Tensor) {
	if f != nil {
		f(name, t)
	}
}

// Load reads a U-Net of configuration cfg from src, in diffusers naming
// (names relative to the U-Net: "conv_in.weight", …; view a pipeline file
// with weights.Prefixed(src, "unet.") or a single-file checkpoint with
// weights.UNetFromLDM). Every tensor's shape is checked, and tensors the
// model does not know are reported.
func Load(src weights.Source, cfg Config) (*Model, error) {
	return LoadPrecision(src, cfg, weights.KeepFloat32)
}

// LoadPrecision is Load keeping the weights of the convolutions and linear
// layers in precision p (see weights.Precision): with weights.KeepStored an
// fp16 checkpoint's weights stay in half precision, read from the file's
// memory without a copy (1.7 GB for SD 1.5 instead of 3.4 GB; the file must
// then stay open while the model is used), and Forward computes the same
// numbers, since products convert the weights exactly.
func LoadPrecision(src weights.Source, cfg Config, p weights.Precision) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ld := weights.NewLoader(src, "").WithPrecision(p)
	m := load(ld, cfg)
	if err := ld.Check(true); err != nil {
		return nil, fmt.Errorf("unet: %w", err)
	}
	m.Weights = ld.Tensors()
	return m, nil
}

// load builds the model tree from ld; errors stay in ld. cfg must be valid.
func load(ld *weights.Loader, cfg Config) *Model {
	c0 := cfg.BlockOutChannels[0]
	m := &Model{
		Config:        cfg,
		TimeEmbedding: loadTimestepEmbedding(ld.Sub("time_embedding"), c0, cfg.TimeEmbedDim()),
		AddEmbedding:  loadAddEmbedding(ld, cfg),
		ConvIn:        layer.NewConv2d(ld.Sub("conv_in"), cfg.InChannels, c0, 3, 1, 1),
		ConvNormOut:   layer.NewGroupNorm(ld.Sub("conv_norm_out"), c0, cfg.NormNumGroups, cfg.NormEps),
		ConvOut:       layer.NewConv2d(ld.Sub("conv_out"), c0, cfg.OutChannels, 3, 1, 1),
	}

	// Going down, record the channels of each skip connection as Forward
	// will push them, so each up resnet knows its input width.
	skipCh := []int{c0}
	in := c0
	for i := range cfg.Levels() {
		m.DownBlocks = append(m.DownBlocks, loadDownBlock(ld.Subf("down_blocks.%d", i), cfg, i, in))
		in = cfg.BlockOutChannels[i]
		for range len(m.DownBlocks[i].Resnets) + len(m.DownBlocks[i].Downsamplers) {
			skipCh = append(skipCh, in)
		}
	}
	m.MidBlock = loadMidBlock(ld.Sub("mid_block"), cfg)

	for i := range cfg.Levels() {
		n := cfg.LayersPerBlock + 1
		pops := make([]int, n) // popping order: last pushed first
		for j := range pops {
			pops[j] = skipCh[len(skipCh)-1-j]
		}
		skipCh = skipCh[:len(skipCh)-n]
		m.UpBlocks = append(m.UpBlocks, loadUpBlock(ld.Subf("up_blocks.%d", i), cfg, i, in, pops))
		in = cfg.BlockOutChannels[cfg.Levels()-1-i]
	}
	return m
}

// Forward predicts the noise (or v) in the latent x (B, C_in, h, w) at
// timesteps t (B values, or one value for the whole batch; fractional values
// are fine) under the text context ctx (B, M, CrossAttentionDim), and
// returns (B, C_out, h, w). The only error is a shape that disagrees with
// the model.
func (m *Model) Forward(x *nn.Tensor, t []float32, ctx *nn.Tensor) (*nn.Tensor, error) {
	return m.ForwardAdded(x, t, ctx, nil)
}

// ForwardAdded is Forward with SDXL's added conditioning, which a model with
// an add_embedding requires (and others ignore): its embedding of the
// pooled text and the time ids is added to the timestep embedding.
func (m *Model) ForwardAdded(x *nn.Tensor, t []float32, ctx *nn.Tensor, add *AddedCond) (*nn.Tensor, error) {
	if err := m.checkInputs(x, t, ctx); err != nil {
		return nil, err
	}
	trace := m.tracer()
	b := x.Shape[0]
	if len(t) == 1 && b > 1 { // one timestep for the whole batch
		t = repeatFloat(t[0], b)
	}

	// 1. Timestep: sinusoidal features, then the MLP.
	proj := timeProj(t, m.Config) // (B) -> (B, C0)
	trace.do("time_proj", proj)
	emb := m.TimeEmbedding.Forward(proj) // (B, C0) -> (B, 4·C0)
	trace.do("time_embedding", emb)
	if m.AddEmbedding != nil {
		aug, err := m.augEmbedding(add, b, trace) // (B, 4·C0)
		if err != nil {
			return nil, err
		}
		nn.AddInPlace(emb, aug)
	}
	embAct := nn.SiLU(emb) // every resnet takes SiLU(emb)

	// 2. Pre-process.
	h := m.ConvIn.Forward(x) // (B, C_in, h, w) -> (B, C0, h, w)
	trace.do("conv_in", h)
	skips := []*nn.Tensor{h}

	// 3. Down: each level pushes its skip connections.
	for i, d := range m.DownBlocks {
		name := fmt.Sprintf("down%d", i)
		h = d.Forward(h, embAct, ctx, &skips, trace, name)
		trace.do(name, h)
		m.blockDone()
	}

	// 4. Mid.
	h = m.MidBlock.Forward(h, embAct, ctx, trace, "mid")
	trace.do("mid", h)
	m.blockDone()

	// 5. Up: each level pops as many skips as it has resnets.
	for i, u := range m.UpBlocks {
		name := fmt.Sprintf("up%d", i)
		h = u.Forward(h, embAct, ctx, &skips, trace, name)
		trace.do(name, h)
		m.blockDone()
	}

	// 6. Post-process.
	if m.Trace != nil {
		trace.do("conv_norm_out", m.ConvNormOut.Forward(h)) // (B, C0, h, w)
	}
	return m.ConvOut.ForwardNormSiLU(m.ConvNormOut, h), nil // conv_out(SiLU(norm(h))): (B, C0, h, w) -> (B, C_out, h, w)
}

func (m *Model) blockDone() {
	if m.BlockDone != nil {
		m.BlockDone()
	}
}

// checkInputs reports whether x, t and ctx have the shapes Forward needs.
func (m *Model) checkInputs(x *nn.Tensor, t []float32, ctx *nn.Tensor) error {
	c := m.Config
	switch {
	case x == nil || len(x.Shape) != 4 || x.Shape[1] != c.InChannels:
		return fmt.Errorf("unet: latent shape %v, want (B, %d, h, w)", shapeOf(x), c.InChannels)
	case ctx == nil || len(ctx.Shape) != 3 || ctx.Shape[0] != x.Shape[0] || ctx.Shape[2] != c.CrossAttentionDim:
		return fmt.Errorf("unet: context shape %v, want (%d, M, %d)", shapeOf(ctx), x.Shape[0], c.CrossAttentionDim)
	case len(t) != 1 && len(t) != x.Shape[0]:
		return fmt.Errorf("unet: %d timesteps for a batch of %d", len(t), x.Shape[0])
	case x.Shape[2] == 0 || x.Shape[3] == 0:
		return fmt.Errorf("unet: empty latent %v", x.Shape)
	}
	return nil
}

func shapeOf(t *nn.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape
}

func repeatFloat(v float32, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}
