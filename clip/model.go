package clip

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Model is a CLIP text transformer (checkpoint: text_model). Its field
// names follow the checkpoint's module tree. Encoding never modifies the
// model, so one Model may serve several goroutines.
type Model struct {
	Config         Config
	Embeddings     *Embeddings     // text_model.embeddings
	Encoder        *Encoder        // text_model.encoder
	FinalLayerNorm layer.LayerNorm // text_model.final_layer_norm

	// Weights maps every tensor the model read to its name in transformers'
	// CLIPTextModel naming ("text_model.encoder.layers.0.mlp.fc1.weight"),
	// whatever the file called it: the same tensors the fields hold, so that
	// an adapter (package lora) can replace a weight's values in place. Set
	// by Load and LoadPrecision.
	Weights map[string]*nn.Tensor
}

// Load reads a text encoder from src for cfg. src may hold it under any of
// the names users' files have (see the package documentation): transformers'
// text_model.*, SD 1.x single-file cond_stage_model.transformer.text_model.*,
// or SD 2.x single-file OpenCLIP cond_stage_model.model.* (seen through
// weights.TextFromLDM), in F32, F16 or BF16. Every tensor's shape is checked
// against cfg; the error names each tensor that is missing or mis-shaped, and
// any unexpected one. Layers past cfg.Layers are allowed and ignored (SD 2.x
// uses 23 of OpenCLIP's 24). Only the text encoder's tensors are read, so src
// may be a whole single-file checkpoint.
func Load(src weights.Source, cfg Config) (*Model, error) {
	return LoadPrecision(src, cfg, weights.KeepFloat32)
}

// LoadPrecision is Load keeping the weight matrices of the linear layers in
// precision p (see weights.Precision): with weights.KeepStored an fp16
// checkpoint's matrices stay in half precision, read from the file's memory
// without a copy (the file must then stay open while the model is used).
// The embedding tables, which Encode reads row by row, are float32.
func LoadPrecision(src weights.Source, cfg Config, p weights.Precision) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	view, prefix, err := textModel(src)
	if err != nil {
		return nil, err
	}
	ld := weights.NewLoader(view, prefix).WithPrecision(p)
	m := &Model{
		Config:         cfg,
		Embeddings:     loadEmbeddings(ld.Sub("embeddings"), cfg),
		Encoder:        loadEncoder(ld.Sub("encoder"), cfg),
		FinalLayerNorm: layer.NewLayerNorm(ld.Sub("final_layer_norm"), cfg.Width, cfg.LayerNormEps),
	}
	if err := ld.Err(); err != nil {
		return nil, fmt.Errorf("clip: loading: %w", err)
	}
	var unexpected []string
	for _, name := range ld.Unused() {
		if n, ok := layerIndex(name[len(prefix):]); ok && n >= cfg.Layers {
			continue // a layer this config does not run
		}
		unexpected = append(unexpected, name)
	}
	if n := len(unexpected); n > 0 {
		more := ""
		if n > 8 {
			unexpected, more = unexpected[:8], fmt.Sprintf(" and %d more", n-8)
		}
		return nil, fmt.Errorf("clip: loading: unexpected tensors (wrong config?): %q%s", unexpected, more)
	}
	m.Weights = map[string]*nn.Tensor{}
	for name, t := range ld.Tensors() {
		m.Weights["text_model."+name[len(prefix):]] = t
	}
	return m, nil
}

var layerName = regexp.MustCompile(`^encoder\.layers\.(\d+)\.`)

// layerIndex returns N of a name "encoder.layers.N.…".
func layerIndex(name string) (int, bool) {
	s := layerName.FindStringSubmatch(name)
	if s == nil {
		return 0, false
	}
	n, err := strconv.Atoi(s[1])
	return n, err == nil
}

// LoadFile reads a text encoder from a checkpoint file: a diffusers
// text_encoder/model.safetensors, whose config is the config.json beside it
// (from the shapes when there is none, see Infer), or a single-file SD 1.x or
// SD 2.x checkpoint, whose config comes from the shapes. Of an SD 2.x single
// file's 24 OpenCLIP layers it loads 23, as diffusers' conversion does, so
// that Encode returns SD 2.x's conditioning (see SD2).
func LoadFile(path string) (*Model, error) {
	src, closeFile, err := weights.OpenAny(path)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	cfg, err := fileConfig(src, filepath.Join(filepath.Dir(path), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("clip: %s: %w", path, err)
	}
	m, err := Load(src, cfg)
	if err != nil {
		return nil, fmt.Errorf("clip: %s: %w", path, err)
	}
	return m, nil
}

// fileConfig returns the config of a checkpoint file's text encoder.
func fileConfig(src weights.Source, configJSON string) (Config, error) {
	text := weights.DetectLayout(src).Text
	if _, err := os.Stat(configJSON); err == nil && text == weights.TextNone {
		return ReadConfig(configJSON)
	}
	cfg, err := Infer(src)
	if err != nil {
		return Config{}, err
	}
	if text == weights.TextOpenCLIP && cfg.Layers > 1 {
		cfg.Layers-- // SD 2.x conditions on the penultimate layer
	}
	return cfg, nil
}

// EncodeOptions choose what Encode returns.
type EncodeOptions struct {
	// ClipSkip picks the layer whose output is returned (after the final
	// LayerNorm, as diffusers does): 1 (or less) is the last layer, 2 the
	// penultimate ("clip skip 2"), and so on; the layers after it are not run.
	ClipSkip int
	// Vectors, when set, replaces the token vectors at some positions
	// (see Embeddings.ForwardVectors): textual-inversion embeddings.
	Vectors map[int][]float32
}

// Encode turns B prompts of L ≤ Positions token ids each (normally L = 77:
// start token, prompt, end token, padding) into the context the U-Net
// attends to, (B, L, D). No attention mask is applied beyond the causal one,
// as Stable Diffusion calls its text encoder: padding tokens are computed like
// any other.
func (m *Model) Encode(ids [][]int, opts EncodeOptions) (*nn.Tensor, error) {
	skip := max(opts.ClipSkip, 1)
	if skip > m.Config.Layers+1 {
		return nil, fmt.Errorf("clip: clip skip %d, the model has %d layers", opts.ClipSkip, m.Config.Layers)
	}
	x, err := m.forward(ids, opts.Vectors, m.Config.Layers-(skip-1), nil) // (B, L, D)
	if err != nil {
		return nil, err
	}
	return m.FinalLayerNorm.Forward(x), nil // (B, L, D)
}

// HiddenStates returns the Layers+1 hidden states of the residual stream, as
// transformers' output_hidden_states does: [0] is the embeddings' output,
// [k] the output of layer k, each (B, L, D) and without the final LayerNorm.
func (m *Model) HiddenStates(ids [][]int) ([]*nn.Tensor, error) {
	var hs []*nn.Tensor
	_, err := m.forward(ids, nil, m.Config.Layers, func(x *nn.Tensor) { hs = append(hs, x.Clone()) })
	return hs, err
}

// Pooled returns each prompt's pooled feature (B, D): the last layer's
// output, after the final LayerNorm, at the prompt's end token (see Pool).
func (m *Model) Pooled(ids [][]int) (*nn.Tensor, error) {
	last, err := m.Encode(ids, EncodeOptions{})
	if err != nil {
		return nil, err
	}
	return Pool(ids, last), nil
}

// Pool picks from last (B, L, D) the row of each prompt's end token and
// returns them (B, D). Like transformers 4.30.2 it takes the row of the
// largest id, first occurrence: the end token 49407 is the largest id of
// CLIP's vocabulary, so this is the first end token, whatever the padding.
func Pool(ids [][]int, last *nn.Tensor) *nn.Tensor {
	l, d := last.Shape[1], last.Shape[2]
	out := nn.New(len(ids), d) // (B, D)
	for b, row := range ids {
		at := 0
		for i, id := range row {
			if i < l && id > row[at] {
				at = i
			}
		}
		copy(out.Data[b*d:(b+1)*d], last.Data[(b*l+at)*d:(b*l+at+1)*d])
	}
	return out
}

// forward runs the embeddings and the first n layers and returns the
// residual stream (B, L, D), calling each (when not nil) with hidden state 0
// (the embeddings) to n.
func (m *Model) forward(ids [][]int, vectors map[int][]float32, n int, each func(x *nn.Tensor)) (*nn.Tensor, error) {
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, errors.New("clip: no token ids")
	}
	x, err := m.Embeddings.ForwardVectors(ids, vectors) // (B, L) -> (B, L, D)
	if err != nil {
		return nil, err
	}
	if each != nil {
		each(x)
	}
	for _, layer := range m.Encoder.Layers[:n] {
		layer.Forward(x) // (B, L, D), in place
		if each != nil {
			each(x)
		}
	}
	return x, nil
}
