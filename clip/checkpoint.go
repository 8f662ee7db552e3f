package clip

import (
	"fmt"

	"github.com/sdgo/sdgo/weights"
)

// textModel finds the text encoder in src and returns a source and prefix
// under which it has transformers' names (prefix + "embeddings.…"). Single-file
// layouts are seen through weights.TextFromLDM, which renames OpenCLIP's
// tensors and splits its fused q;k;v projection.
func textModel(src weights.Source) (weights.Source, string, error) {
	const token = "embeddings.token_embedding.weight"
	for _, prefix := range []string{
		"text_model.", // transformers / diffusers text_encoder/
		"",            // already under text_model. (for example through weights.Prefixed)
	} {
		if _, ok := src.Info(prefix + token); ok {
			return src, prefix, nil
		}
	}
	if weights.DetectLayout(src).Text != weights.TextNone {
		return weights.TextFromLDM(src), "text_model.", nil // SD 1.x or SD 2.x single file
	}
	return nil, "", fmt.Errorf("clip: no CLIP text encoder found (looked for text_model.%s, %s…, %s…)",
		token, weights.LDMCLIPPrefix, weights.LDMOpenCLIPPrefix)
}

// Infer returns the config the tensors of src describe. Vocabulary size,
// positions, width, MLP width and layer count are read from shapes. What no
// shape says is assumed: heads of width 64 (every released CLIP model's), and
// OpenAI CLIP's QuickGELU and padding for widths up to 768 in transformers'
// naming, OpenCLIP's GELU and padding 0 for OpenCLIP's naming or a greater
// width (SD 2.x's OpenCLIP H is 1024 wide). Note that a single-file SD 2.x
// checkpoint holds all 24 layers: for SD 2.x's conditioning, encode with
// ClipSkip 2 or set Layers to 23 before Load.
func Infer(src weights.Source) (Config, error) {
	view, prefix, err := textModel(src)
	if err != nil {
		return Config{}, err
	}
	ld := weights.NewLoader(view, prefix)
	tok := ld.Shape("embeddings.token_embedding.weight")
	pos := ld.Shape("embeddings.position_embedding.weight")
	fc1 := ld.Shape("encoder.layers.0.mlp.fc1.weight")
	if len(tok) != 2 || len(pos) != 2 || len(fc1) != 2 {
		return Config{}, fmt.Errorf("clip: infer config: token embedding %v, position embedding %v, layer 0 fc1 %v: want 2-d shapes", tok, pos, fc1)
	}
	cfg := SD1()
	if tok[1] > 768 || weights.DetectLayout(src).Text == weights.TextOpenCLIP {
		cfg = SD2()
	}
	cfg.VocabSize, cfg.Width = tok[0], tok[1]
	cfg.Positions = pos[0]
	cfg.MLPWidth = fc1[0]
	cfg.Heads = max(1, cfg.Width/64)
	if cfg.Width%cfg.Heads != 0 {
		cfg.Heads = 1
	}
	cfg.Layers = 0
	for ld.Has(fmt.Sprintf("encoder.layers.%d.mlp.fc1.weight", cfg.Layers)) {
		cfg.Layers++
	}
	return cfg, cfg.Validate()
}
