package unet

import (
	"fmt"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// TextTime is diffusers' addition_embed_type of SDXL: the U-Net is also
// conditioned on the pooled text embedding and six numbers, add_time_ids.
const TextTime = "text_time"

// AddTimeIDs is how many numbers SDXL's micro-conditioning takes per image:
// original size (h, w), crop top-left (top, left), target size (h, w).
const AddTimeIDs = 6

// AddedCond is SDXL's extra conditioning (diffusers' added_cond_kwargs),
// one row per image of the batch.
type AddedCond struct {
	TextEmbeds *nn.Tensor // (B, P): the second text encoder's projected pooled output
	TimeIDs    *nn.Tensor // (B, 6): orig_h, orig_w, crop_top, crop_left, target_h, target_w
}

// loadAddEmbedding loads SDXL's add_embedding (a TimestepEmbedding from
// ProjectionClassEmbeddingsInputDim to the timestep embedding's width), or
// returns nil for a model without it.
func loadAddEmbedding(ld *weights.Loader, cfg Config) *TimestepEmbedding {
	if cfg.AdditionEmbedType != TextTime {
		return nil
	}
	return loadTimestepEmbedding(ld.Sub("add_embedding"), cfg.ProjectionClassEmbeddingsInputDim, cfg.TimeEmbedDim())
}

// augEmbedding is diffusers' get_aug_embed for "text_time": the sinusoidal
// features of each time id (add_time_proj), concatenated with the pooled
// text embedding and mapped by add_embedding, (B, 4·C0). It is added to the
// timestep embedding.
func (m *Model) augEmbedding(add *AddedCond, b int, trace tracer) (*nn.Tensor, error) {
	c := m.Config
	if add == nil || add.TextEmbeds == nil || add.TimeIDs == nil {
		return nil, fmt.Errorf("unet: the model takes SDXL's added conditioning (pooled text embedding and add_time_ids), none given")
	}
	te, ids := add.TextEmbeds, add.TimeIDs
	p := c.ProjectionClassEmbeddingsInputDim - AddTimeIDs*c.AdditionTimeEmbedDim
	switch {
	case len(te.Shape) != 2 || te.Shape[0] != b || te.Shape[1] != p:
		return nil, fmt.Errorf("unet: pooled text embedding shape %v, want (%d, %d) (projection_class_embeddings_input_dim %d − 6·addition_time_embed_dim %d)",
			te.Shape, b, p, c.ProjectionClassEmbeddingsInputDim, c.AdditionTimeEmbedDim)
	case len(ids.Shape) != 2 || ids.Shape[0] != b || ids.Shape[1] != AddTimeIDs:
		return nil, fmt.Errorf("unet: add_time_ids shape %v, want (%d, %d)", ids.Shape, b, AddTimeIDs)
	}
	d := c.AdditionTimeEmbedDim
	feats := nn.TimestepEmbedding(ids.Data, d, c.FlipSinToCos, c.FreqShift, maxPeriod) // (B·6) -> (B·6, d)
	trace.do("add_time_proj", feats)
	in := nn.New(b, c.ProjectionClassEmbeddingsInputDim) // (B, P + 6·d): [text_embeds, features of id 0 … 5]
	w := in.Shape[1]
	for i := range b {
		copy(in.Data[i*w:i*w+p], te.Data[i*p:(i+1)*p])
		copy(in.Data[i*w+p:(i+1)*w], feats.Data[i*AddTimeIDs*d:(i+1)*AddTimeIDs*d])
	}
	aug := m.AddEmbedding.Forward(in) // (B, P + 6·d) -> (B, 4·C0)
	trace.do("add_embedding", aug)
	return aug, nil
}

// tracer is the hook Forward hands down the blocks: Trace, and, when
// BlockDone is set, BlockDone also after each spatial transformer
// ("down1.attn0", "mid.attn0", "up0.attn2", …), not only after each block.
// SDXL's deepest up block holds three transformers of ten blocks each,
// 2.1 GB of fp16 weights: released transformer by transformer, about 0.7 GB
// of them is resident at a time.
func (m *Model) tracer() tracer {
	if m.BlockDone == nil {
		return tracer(m.Trace)
	}
	return func(name string, t *nn.Tensor) {
		if m.Trace != nil {
			m.Trace(name, t)
		}
		if block, part, ok := strings.Cut(name, "."); ok && block != "" && strings.HasPrefix(part, "attn") && !strings.Contains(part, ".") {
			m.BlockDone()
		}
	}
}
