package clip

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// ProjectionModel is transformers' CLIPTextModelWithProjection, SDXL's
// second text encoder (OpenCLIP ViT-bigG): the text transformer of Model
// plus text_projection, a Linear without bias that maps the pooled feature
// (the final LayerNorm's output at the end token) into CLIP's joint space.
// SDXL conditions its U-Net on that projected feature as well as on the
// penultimate hidden states.
type ProjectionModel struct {
	*Model                      // text_model
	TextProjection layer.Linear // text_projection: (P, D), no bias
}

// SDXLBigG is the second text encoder of SDXL base 1.0, OpenCLIP
// ViT-bigG/14's text tower, as in
// https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/text_encoder_2/config.json
// (with the real token ids in place of that file's placeholders; padding is
// "!", id 0).
func SDXLBigG() Config {
	return Config{
		VocabSize:     49408,
		Positions:     77,
		Width:         1280,
		MLPWidth:      5120,
		Heads:         20,
		Layers:        32,
		Activation:    GELU,
		LayerNormEps:  1e-5,
		ProjectionDim: 1280,
		BOS:           49406,
		EOS:           49407,
		Pad:           0,
	}
}

// LoadProjection reads a CLIPTextModelWithProjection from src, in
// transformers' names ("text_model.*" and "text_projection.weight"; view an
// SDXL single file through weights.TextFromSDXL(src, 1)), keeping the
// weight matrices in precision p. cfg.ProjectionDim is the projection's
// width; 0 means cfg.Width.
func LoadProjection(src weights.Source, cfg Config, p weights.Precision) (*ProjectionModel, error) {
	m, err := LoadPrecision(src, cfg, p)
	if err != nil {
		return nil, err
	}
	proj := cfg.ProjectionDim
	if proj == 0 {
		proj = cfg.Width
	}
	ld := weights.NewLoader(src, "").WithPrecision(p)
	pm := &ProjectionModel{Model: m, TextProjection: layer.NewLinear(ld.Sub("text_projection"), cfg.Width, proj, false)}
	if err := ld.Err(); err != nil {
		return nil, fmt.Errorf("clip: loading: %w", err)
	}
	return pm, nil
}

// Hidden returns hidden state k of the residual stream (B, L, D), without
// the final LayerNorm: 0 is the embeddings' output, k the output of layer k
// (transformers' hidden_states[k]; SDXL takes hidden_states[-2], k =
// Layers−1). Only the first k layers are run.
func (m *Model) Hidden(ids [][]int, k int) (*nn.Tensor, error) {
	return m.HiddenVectors(ids, nil, k)
}

// HiddenVectors is Hidden with vectors (see EncodeOptions.Vectors) in place
// of the token embeddings of some positions: a textual-inversion
// embedding's.
func (m *Model) HiddenVectors(ids [][]int, vectors map[int][]float32, k int) (*nn.Tensor, error) {
	if k < 0 || k > m.Config.Layers {
		return nil, fmt.Errorf("clip: hidden state %d, the model has %d layers", k, m.Config.Layers)
	}
	return m.forward(ids, vectors, k, nil) // (B, L) -> (B, L, D)
}

// EncodePooled runs every layer once and returns hidden state k (B, L, D),
// as Hidden, and the projected pooled feature (B, P): text_projection of
// the final LayerNorm's output at each prompt's end token (transformers'
// text_embeds; see Pool).
func (m *ProjectionModel) EncodePooled(ids [][]int, k int) (hidden, pooled *nn.Tensor, err error) {
	return m.EncodePooledVectors(ids, nil, k)
}

// EncodePooledVectors is EncodePooled with vectors in place of the token
// embeddings of some positions (see HiddenVectors).
func (m *ProjectionModel) EncodePooledVectors(ids [][]int, vectors map[int][]float32, k int) (hidden, pooled *nn.Tensor, err error) {
	if k < 0 || k > m.Config.Layers {
		return nil, nil, fmt.Errorf("clip: hidden state %d, the model has %d layers", k, m.Config.Layers)
	}
	i := 0
	last, err := m.forward(ids, vectors, m.Config.Layers, func(x *nn.Tensor) {
		if i == k {
			hidden = x.Clone() // (B, L, D)
		}
		i++
	})
	if err != nil {
		return nil, nil, err
	}
	eos := Pool(ids, m.FinalLayerNorm.Forward(last))  // (B, L, D) -> (B, D)
	return hidden, m.TextProjection.Forward(eos), nil // (B, D) -> (B, P)
}
