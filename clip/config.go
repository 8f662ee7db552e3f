package clip

import (
	"encoding/json"
	"fmt"
	"os"
)

// The activations CLIP text towers use, by transformers' hidden_act names.
const (
	// QuickGELU is x·σ(1.702·x), OpenAI CLIP's activation (SD 1.x).
	QuickGELU = "quick_gelu"
	// GELU is the exact (erf) GELU, OpenCLIP's activation (SD 2.x).
	GELU = "gelu"
	// GELUTanh is the tanh approximation of GELU.
	GELUTanh = "gelu_pytorch_tanh"
)

// Config describes a CLIP text transformer. The JSON names are those of
// transformers' config.json (CLIPTextConfig).
type Config struct {
	VocabSize    int     `json:"vocab_size"`              // token embedding rows: 49408
	Positions    int     `json:"max_position_embeddings"` // position embedding rows: 77
	Width        int     `json:"hidden_size"`             // D: 768 (SD 1.x), 1024 (SD 2.x)
	MLPWidth     int     `json:"intermediate_size"`       // the MLP's hidden width: 4·D
	Heads        int     `json:"num_attention_heads"`     // attention heads; head width D/Heads
	Layers       int     `json:"num_hidden_layers"`       // transformer layers loaded and run
	Activation   string  `json:"hidden_act"`              // QuickGELU, GELU or GELUTanh
	LayerNormEps float32 `json:"layer_norm_eps"`          // 1e-5
	// ProjectionDim is the width P of text_projection in a
	// CLIPTextModelWithProjection (SDXL's second encoder: 1280). Only
	// LoadProjection reads it; a CLIPTextModel's config may carry it unused.
	ProjectionDim int `json:"projection_dim"`

	// The special token ids. The model itself needs none of them: the pooled
	// feature is found by the largest id (see Pool), and padding is the
	// tokenizer's business. Beware that the config.json files diffusers ships
	// for SD 1.x and SD 2.x carry transformers' placeholders bos 0, eos 2,
	// pad 1 rather than the real ids.
	BOS int `json:"bos_token_id"`
	EOS int `json:"eos_token_id"`
	Pad int `json:"pad_token_id"`
}

// SD1 is the text encoder of Stable Diffusion 1.x: OpenAI CLIP ViT-L/14's
// text tower, as in
// https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/text_encoder/config.json
// (with the real token ids in place of that file's placeholders).
func SD1() Config {
	return Config{
		VocabSize:    49408,
		Positions:    77,
		Width:        768,
		MLPWidth:     3072,
		Heads:        12,
		Layers:       12,
		Activation:   QuickGELU,
		LayerNormEps: 1e-5,
		BOS:          49406,
		EOS:          49407,
		Pad:          49407,
	}
}

// SD2 is the text encoder of Stable Diffusion 2.x: OpenCLIP ViT-H/14's text
// tower. That tower has 24 layers, but SD 2.x conditions on the penultimate
// one (followed by the final LayerNorm), so, like diffusers'
// https://huggingface.co/stabilityai/stable-diffusion-2-1/blob/main/text_encoder/config.json,
// the preset keeps 23 layers: the last one is neither loaded nor run, and
// Encode's default output is SD 2.x's conditioning. Padding is id 0.
func SD2() Config {
	return Config{
		VocabSize:    49408,
		Positions:    77,
		Width:        1024,
		MLPWidth:     4096,
		Heads:        16,
		Layers:       23,
		Activation:   GELU,
		LayerNormEps: 1e-5,
		BOS:          49406,
		EOS:          49407,
		Pad:          0,
	}
}

// ReadConfig reads a transformers config.json: a CLIPTextModel's, or a full
// CLIPModel's, whose text tower is under "text_config". Missing activation
// and epsilon take transformers' defaults (quick_gelu, 1e-5); the sizes must
// be present.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("clip: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("clip: %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the text of a transformers config.json (see ReadConfig).
func ParseConfig(data []byte) (Config, error) {
	var outer struct {
		TextConfig json.RawMessage `json:"text_config"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return Config{}, err
	}
	if len(outer.TextConfig) > 0 && string(outer.TextConfig) != "null" {
		data = outer.TextConfig
	}
	c := Config{Activation: QuickGELU, LayerNormEps: 1e-5}
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate reports a config that cannot describe a model: a size that is not
// positive, a width the heads do not divide, or an unknown activation.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize},
		{"max_position_embeddings", c.Positions},
		{"hidden_size", c.Width},
		{"intermediate_size", c.MLPWidth},
		{"num_attention_heads", c.Heads},
		{"num_hidden_layers", c.Layers},
	} {
		if f.v <= 0 {
			return fmt.Errorf("clip: config: %s = %d, want > 0", f.name, f.v)
		}
	}
	if c.Width%c.Heads != 0 {
		return fmt.Errorf("clip: config: hidden_size %d is not a multiple of num_attention_heads %d", c.Width, c.Heads)
	}
	if _, err := activation(c.Activation); err != nil {
		return err
	}
	return nil
}
