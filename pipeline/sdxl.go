package pipeline

// Stable Diffusion XL (base 1.0 and Turbo), as diffusers'
// StableDiffusionXLPipeline runs it. What SDXL adds to SD 1.x's pipeline:
//
//   - a second text encoder, OpenCLIP ViT-bigG with projection (Model.Text2),
//     whose tokenizer pads with "!" (id 0). The context is both encoders'
//     penultimate hidden states, without the final LayerNorm, concatenated:
//     (1, 77, 768 + 1280). The second encoder's projected pooled output
//     (1, 1280) conditions the U-Net too;
//   - micro-conditioning: add_time_ids = original size, crop top-left and
//     target size (height first), embedded with the pooled text by the
//     U-Net's add_embedding (see unet.AddedCond);
//   - an absent negative prompt is all zeros, context and pooled
//     (force_zeros_for_empty_prompt); an explicit empty one is encoded;
//   - the VAE's scaling factor 0.13025; the decoder always computes in
//     float32, as diffusers' force_upcast asks of fp16 SDXL VAEs.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/prompt"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/weights"
)

// SDXL is Stable Diffusion XL: CLIP ViT-L and OpenCLIP ViT-bigG text
// encoders, context 2048, micro-conditioning.
const SDXL Version = 10

// sdxlScale is the latent scaling factor of SDXL's VAE (its config.json's
// scaling_factor), for single files that come without one.
const sdxlScale = 0.13025

// sdxlSampleSize is SDXL base's native latent side (1024 px); single files
// do not say it (SDXL-Turbo's is 64, 512 px: pass -W/-H).
const sdxlSampleSize = 128

// errRefiner is the error for an SDXL refiner checkpoint.
var errRefiner = errors.New("this is an SDXL refiner checkpoint (one OpenCLIP text encoder, conditioner.embedders.0.model.*): " +
	"the refiner is not supported yet; use an SDXL base or Turbo checkpoint")

// xlCond is what SDXL conditions the U-Net on besides the context, filled
// by conditioning and shared by the copies of one generation's Options.
type xlCond struct {
	pooledCond, pooledUncond *nn.Tensor // (1, P)
	timeIDs                  *nn.Tensor // (1, 6)
}

// added is the U-Net's added conditioning for a batch of [uncond, cond]
// when guided, else [cond]; nil for models other than SDXL.
func (x *xlCond) added(guided bool) *unet.AddedCond {
	if x == nil {
		return nil
	}
	if !guided {
		return &unet.AddedCond{TextEmbeds: x.pooledCond, TimeIDs: x.timeIDs}
	}
	return &unet.AddedCond{
		TextEmbeds: catBatch(x.pooledUncond, x.pooledCond), // (2, P)
		TimeIDs:    catBatch(x.timeIDs, x.timeIDs),         // (2, 6): no separate negative sizes
	}
}

// timeIDs is add_time_ids of o (defaults applied): original size, crop
// top-left, target size, each pair height first, as diffusers orders them.
// Unset sizes are the output size; the crop defaults to 0, 0.
func timeIDs(o Options) *nn.Tensor {
	or := func(v, def int) float32 {
		if v == 0 {
			return float32(def)
		}
		return float32(v)
	}
	return nn.From([]float32{
		or(o.OriginalHeight, o.Height), or(o.OriginalWidth, o.Width),
		float32(o.CropTop), float32(o.CropLeft),
		or(o.TargetHeight, o.Height), or(o.TargetWidth, o.Width),
	}, 1, unet.AddTimeIDs)
}

// conditioningXL is conditioning for SDXL: contexts (1, 77·k, D1+D2) and,
// in o.xl, the pooled embeddings and time ids.
func (m *Model) conditioningXL(o Options) (cond, uncond *nn.Tensor, err error) {
	var ids []int
	if cond, o.xl.pooledCond, ids, err = m.encodeXLWith(o.Prompt, o.ClipSkip, o); err != nil {
		return nil, nil, err
	}
	o.xl.timeIDs = timeIDs(o)
	o.Stages.addIDs("ids_cond", ids)
	o.Stages.add(-1, "context_cond", cond)
	o.Stages.add(-1, "pooled_cond", o.xl.pooledCond)
	o.Stages.add(-1, "add_time_ids", o.xl.timeIDs)
	if o.CFGScale <= 1 {
		return cond, nil, nil
	}
	if o.NegativePrompt == "" && !o.EncodeEmptyNegative && m.ZeroNegative {
		// diffusers' force_zeros_for_empty_prompt, negative_prompt=None.
		uncond = nn.New(cond.Shape...)                       // (1, 77·k, D)
		o.xl.pooledUncond = nn.New(o.xl.pooledCond.Shape...) // (1, P)
	} else {
		if uncond, o.xl.pooledUncond, ids, err = m.encodeXLWith(o.NegativePrompt, o.ClipSkip, o); err != nil {
			return nil, nil, err
		}
		o.Stages.addIDs("ids_uncond", ids)
	}
	o.Stages.add(-1, "context_uncond", uncond)
	o.Stages.add(-1, "pooled_uncond", o.xl.pooledUncond)
	if cond.Shape[1] != uncond.Shape[1] {
		empty, _, _, err := m.encodeXLWith("", o.ClipSkip, o)
		if err != nil {
			return nil, nil, err
		}
		for cond.Shape[1] < uncond.Shape[1] {
			cond = catTokens(cond, empty)
		}
		for uncond.Shape[1] < cond.Shape[1] {
			uncond = catTokens(uncond, zerosOr(empty, o.NegativePrompt == "" && !o.EncodeEmptyNegative && m.ZeroNegative))
		}
	}
	return cond, uncond, nil
}

// zerosOr returns zeros shaped as t when zero, else t.
func zerosOr(t *nn.Tensor, zero bool) *nn.Tensor {
	if zero {
		return nn.New(t.Shape...)
	}
	return t
}

// encodeXL encodes a prompt with both encoders, chunk by chunk as
// encodePrompt does: the context (1, 77·k, D1+D2), the pooled embedding of
// the first chunk (1, P), as AUTOMATIC1111 takes it, and the ids given to
// the first encoder.
//
// Clip skip (AUTOMATIC1111's "apply clip skip to CLIP-L of SDXL"): 1 and 2
// both give SDXL's own penultimate layer, N > 2 takes the first encoder's
// hidden_states[-N]; the second encoder always gives its penultimate layer.
func (m *Model) encodeXL(text string, clipSkip int) (ctx, pooled *nn.Tensor, ids []int, err error) {
	return m.encodeXLWith(text, clipSkip, Options{})
}

// encodeXLWith is encodeXL where the SDXL textual-inversion embeddings of
// o.adapters whose trigger words the text holds take their slots in both
// encoders' inputs, clip_l's vectors in the first and clip_g's in the
// second (recorded in o.usedTI).
func (m *Model) encodeXLWith(text string, clipSkip int, o Options) (ctx, pooled *nn.Tensor, ids []int, err error) {
	tok := m.Tokenizer
	var embeds []*lora.Embedding
	if o.adapters != nil {
		embeds = o.adapters.embeds
	}
	comma, ok := tok.ID(",</w>")
	if !ok {
		comma = -1
	}
	segs := prompt.Parse(text)
	vocab := prompt.Vocab{Encode: tok.Encode, BOS: tok.BOS(), EOS: tok.EOS(), Pad: tok.EOS(), Comma: comma, Triggers: m.triggers(embeds)}
	chunks1 := prompt.Chunks(segs, vocab)
	vocab.Pad = m.Text2.Config.Pad // tokenizer_2 pads with "!", id 0
	chunks2 := prompt.Chunks(segs, vocab)
	k1 := m.Text.Config.Layers + 1 - max(clipSkip, 2) // hidden_states[-N] = hidden state L+1−N
	k2 := m.Text2.Config.Layers - 1
	for i, c := range chunks1 {
		v1, v2, err := m.embeddingVectorsXL(c, embeds, o.usedTI)
		if err != nil {
			return nil, nil, nil, err
		}
		h1, err := m.Text.HiddenVectors([][]int{c.IDs}, v1, k1) // (1, 77) -> (1, 77, D1)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("text encoder: %w", err)
		}
		h2, p, err := m.Text2.EncodePooledVectors([][]int{chunks2[i].IDs}, v2, k2) // (1, 77) -> (1, 77, D2), (1, P)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("text encoder 2: %w", err)
		}
		prompt.Emphasize(h1.Data, h1.Shape[2], c.Weights)
		prompt.Emphasize(h2.Data, h2.Shape[2], chunks2[i].Weights)
		z := catFeatures(h1, h2) // (1, 77, D1+D2)
		ids = append(ids, c.IDs...)
		if ctx == nil {
			ctx, pooled = z, p
		} else {
			ctx = catTokens(ctx, z)
		}
	}
	return ctx, pooled, ids, nil
}

// embeddingVectorsXL maps the slots of chunk c that SDXL embeddings take to
// their vectors for each encoder (clip_l's for the first, clip_g's for the
// second), checking that each is an SDXL embedding of the encoders' widths.
func (m *Model) embeddingVectorsXL(c prompt.Chunk, embeds []*lora.Embedding, used map[*lora.Embedding]bool) (v1, v2 map[int][]float32, err error) {
	if len(c.Embeds) == 0 {
		return nil, nil, nil
	}
	v1, v2 = map[int][]float32{}, map[int][]float32{}
	d1, d2 := m.Text.Config.Width, m.Text2.Config.Width
	for _, p := range c.Embeds {
		e := embeds[p.Trigger]
		if e.Vectors2 == nil {
			return nil, nil, fmt.Errorf("embedding %s (%q): one set of vectors (width %d), the model is SDXL (clip_l %d and clip_g %d wide): an embedding for SD 1.x/2.x",
				e.Path, e.Trigger, e.Vectors.Shape[1], d1, d2)
		}
		if e.Vectors.Shape[1] != d1 || e.Vectors2.Shape[1] != d2 {
			return nil, nil, fmt.Errorf("embedding %s (%q): clip_l %d and clip_g %d wide, this model's text encoders are %d and %d: an embedding for another model",
				e.Path, e.Trigger, e.Vectors.Shape[1], e.Vectors2.Shape[1], d1, d2)
		}
		for k := range e.Vectors.Shape[0] {
			v1[p.Pos+k] = e.Vectors.Data[k*d1 : (k+1)*d1]
			v2[p.Pos+k] = e.Vectors2.Data[k*d2 : (k+1)*d2]
		}
		if used != nil {
			used[e] = true
		}
	}
	return v1, v2, nil
}

// catFeatures joins (1, L, D1) and (1, L, D2) along the features: (1, L, D1+D2).
func catFeatures(a, b *nn.Tensor) *nn.Tensor {
	l, d1, d2 := a.Shape[1], a.Shape[2], b.Shape[2]
	out := nn.New(1, l, d1+d2)
	for i := range l {
		copy(out.Data[i*(d1+d2):], a.Data[i*d1:(i+1)*d1])
		copy(out.Data[i*(d1+d2)+d1:], b.Data[i*d2:(i+1)*d2])
	}
	return out
}

// loadSDXL completes an SDXL model after the SD 1.x-shaped load of its
// first text encoder, U-Net and VAE: the second text encoder (from the
// folder's text_encoder_2/ or the single file's conditioner.embedders.1),
// and what a single file does not say. Other models are left as they are.
func (m *Model) loadSDXL(path string, dir bool, opts LoadOptions) error {
	if dir {
		if _, err := os.Stat(filepath.Join(path, "text_encoder_2")); err != nil {
			return nil
		}
		src, closeFn, err := weights.OpenDiffusers(path, "text_encoder_2", opts.PreferFP16)
		if err != nil {
			return err
		}
		m.keep(src, closeFn)
		cfg, err := clip.ReadConfig(filepath.Join(path, "text_encoder_2", "config.json"))
		if err != nil {
			return fmt.Errorf("model %s: %w", path, err)
		}
		cfg.Pad = 0 // tokenizer_2's "!"; the config holds transformers' placeholder
		if m.Text2, err = clip.LoadProjection(src, cfg, opts.precision()); err != nil {
			return fmt.Errorf("model %s: text_encoder_2: %w", path, err)
		}
		m.ZeroNegative = forceZeros(path)
	} else {
		if m.Version != SDXL {
			return nil
		}
		src := weights.TextFromSDXL(m.files[0], 1)
		cfg, err := text2Config(src, opts.Config)
		if err != nil {
			return fmt.Errorf("model %s: text encoder 2: %w", path, err)
		}
		if m.Text2, err = clip.LoadProjection(src, cfg, opts.precision()); err != nil {
			return fmt.Errorf("model %s: text encoder 2: %w", path, err)
		}
		m.ZeroNegative = opts.Config == "" || forceZeros(opts.Config)
		if opts.Config == "" {
			m.VAE.Config.ScalingFactor = sdxlScale
			m.UNet.Config.SampleSize = sdxlSampleSize
		}
	}
	m.Version = SDXL
	// The add_embedding's input is the pooled embedding and six time-id
	// features: its width follows from the second encoder's projection.
	c := &m.UNet.Config
	p := m.Text2.TextProjection.Weight.Shape[0]
	if c.AdditionEmbedType != unet.TextTime {
		return fmt.Errorf("model %s: two text encoders but the U-Net has no add_embedding (addition_embed_type %q)", path, c.AdditionEmbedType)
	}
	if rest := c.ProjectionClassEmbeddingsInputDim - p; rest <= 0 || rest%(2*unet.AddTimeIDs) != 0 {
		return fmt.Errorf("model %s: the U-Net's add_embedding takes %d features, which is not the pooled text's %d plus 6 even-sized time-id features",
			path, c.ProjectionClassEmbeddingsInputDim, p)
	} else {
		c.AdditionTimeEmbedDim = rest / unet.AddTimeIDs
	}
	if want := m.Text.Config.Width + m.Text2.Config.Width; c.CrossAttentionDim != want {
		return fmt.Errorf("model %s: the U-Net attends to a %d-wide context, the text encoders give %d + %d", path, c.CrossAttentionDim, m.Text.Config.Width, m.Text2.Config.Width)
	}
	return nil
}

// text2Config is the config of an SDXL single file's second text encoder
// (src: weights.TextFromSDXL(file, 1)): configDir's
// text_encoder_2/config.json when given, else inferred from the shapes
// (OpenCLIP bigG's GELU, the projection's width, the heads of a known
// model); padding is tokenizer_2's "!".
func text2Config(src weights.Source, configDir string) (clip.Config, error) {
	var cfg clip.Config
	var err error
	if configDir != "" {
		cfg, err = clip.ReadConfig(filepath.Join(configDir, "text_encoder_2", "config.json"))
	} else if cfg, err = clip.Infer(src); err == nil {
		cfg.Activation = clip.GELU // OpenCLIP bigG's
		if s, ok := src.Info("text_projection.weight"); ok && len(s.Shape) == 2 {
			cfg.ProjectionDim = s.Shape[0]
		}
		err = resolveText2Heads(&cfg)
	}
	cfg.Pad = 0
	return cfg, err
}

// forceZeros reads force_zeros_for_empty_prompt from dir/model_index.json;
// absent, it is true (StableDiffusionXLPipeline's default).
func forceZeros(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "model_index.json"))
	if err != nil {
		return true
	}
	var idx struct {
		ForceZeros *bool `json:"force_zeros_for_empty_prompt"`
	}
	if json.Unmarshal(data, &idx) != nil || idx.ForceZeros == nil {
		return true
	}
	return *idx.ForceZeros
}

// sdxlScheduler is SDXL base's schedule
// (stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json):
// SD 1.5's with timestep_spacing "leading", steps_offset 1.
func sdxlScheduler() scheduler.Config {
	c := scheduler.SD15()
	c.Spacing = scheduler.Leading
	return c
}

// checkMicro validates the micro-conditioning options.
func (o Options) checkMicro() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"original width", o.OriginalWidth}, {"original height", o.OriginalHeight},
		{"crop top", o.CropTop}, {"crop left", o.CropLeft},
		{"target width", o.TargetWidth}, {"target height", o.TargetHeight},
	} {
		if f.v < 0 || f.v > 1<<16 {
			return fmt.Errorf("%s must be between 0 and %d, got %d", f.name, 1<<16, f.v)
		}
	}
	return nil
}
