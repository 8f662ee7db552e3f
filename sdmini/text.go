package sdmini

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/grad/layers"
)

// Text is CLIP's text transformer (transformers' CLIPTextModel) written in
// grad operations, the trainable twin of clip.Model: the same module tree,
// the same parameter names (text_model.…), the same arithmetic.
type Text struct {
	Config            clip.Config
	TokenEmbedding    layers.Embedding // (VocabSize, D)
	PositionEmbedding layers.Embedding // (Positions, D)
	Layers            []*textLayer
	FinalLayerNorm    layers.LayerNorm
}

// textLayer is one pre-LayerNorm transformer layer (encoder.layers.N).
type textLayer struct {
	LayerNorm1   layers.LayerNorm
	Q, K, V, Out layers.Linear // self_attn.{q,k,v,out}_proj
	LayerNorm2   layers.LayerNorm
	FC1, FC2     layers.Linear // mlp.fc1, mlp.fc2
	heads        int
	act          func(*grad.Tape, *grad.Var) *grad.Var
}

// NewText creates a text encoder of configuration cfg with fresh weights
// drawn from r (CLIP's init: embeddings N(0, 0.02²) and N(0, 0.01²),
// linear layers PyTorch's default), registered in ps under text_model.….
func NewText(ps *grad.Params, r *rand.Rand, cfg clip.Config) (*Text, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	act, err := gradActivation(cfg.Activation)
	if err != nil {
		return nil, err
	}
	b := layers.NewBuilder(ps, r).Sub("text_model")
	d := cfg.Width
	m := &Text{
		Config:            cfg,
		TokenEmbedding:    layers.NewEmbedding(b.Sub("embeddings.token_embedding"), cfg.VocabSize, d, 0.02),
		PositionEmbedding: layers.NewEmbedding(b.Sub("embeddings.position_embedding"), cfg.Positions, d, 0.01),
	}
	for i := range cfg.Layers {
		l := b.Subf("encoder.layers.%d", i)
		attn := l.Sub("self_attn")
		m.Layers = append(m.Layers, &textLayer{
			LayerNorm1: layers.NewLayerNorm(l.Sub("layer_norm1"), d, cfg.LayerNormEps),
			Q:          layers.NewLinear(attn.Sub("q_proj"), d, d, true),
			K:          layers.NewLinear(attn.Sub("k_proj"), d, d, true),
			V:          layers.NewLinear(attn.Sub("v_proj"), d, d, true),
			Out:        layers.NewLinear(attn.Sub("out_proj"), d, d, true),
			LayerNorm2: layers.NewLayerNorm(l.Sub("layer_norm2"), d, cfg.LayerNormEps),
			FC1:        layers.NewLinear(l.Sub("mlp.fc1"), d, cfg.MLPWidth, true),
			FC2:        layers.NewLinear(l.Sub("mlp.fc2"), cfg.MLPWidth, d, true),
			heads:      cfg.Heads,
			act:        act,
		})
	}
	m.FinalLayerNorm = layers.NewLayerNorm(b.Sub("final_layer_norm"), d, cfg.LayerNormEps)
	return m, nil
}

// gradActivation returns the Tape operation of a transformers hidden_act.
func gradActivation(name string) (func(*grad.Tape, *grad.Var) *grad.Var, error) {
	switch name {
	case clip.QuickGELU:
		return (*grad.Tape).QuickGELU, nil
	case clip.GELU:
		return (*grad.Tape).GELU, nil
	}
	return nil, fmt.Errorf("sdmini: text encoder activation %q not supported (want %s or %s)", name, clip.QuickGELU, clip.GELU)
}

// Forward encodes B rows of L token ids (all rows the same length, L ≤
// Positions) and returns the last layer's output after the final LayerNorm,
// (B, L, D): clip.Model.Encode's result. The attention is causal, so a row
// cut after its end token gives the same values up to there.
func (m *Text) Forward(tp *grad.Tape, ids [][]int) *grad.Var {
	b, l, d := len(ids), len(ids[0]), m.Config.Width
	flat := make([]int, 0, b*l)
	for _, row := range ids {
		flat = append(flat, row...)
	}
	pos := make([]int, l)
	for i := range pos {
		pos[i] = i
	}
	x := tp.Reshape(m.TokenEmbedding.Forward(tp, flat), b, l, d) // (B·L, D) -> (B, L, D)
	x = tp.Add(x, m.PositionEmbedding.Forward(tp, pos))          // + (L, D)
	for _, layer := range m.Layers {
		x = layer.forward(tp, x)
	}
	return m.FinalLayerNorm.Forward(tp, x) // (B, L, D)
}

// forward applies one layer: (B, L, D) -> (B, L, D).
func (l *textLayer) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	// 1. tokens look at the ones before them: x += out_proj(attn(LN1(x)))
	h := l.LayerNorm1.Forward(tp, x)
	a := tp.Attention(l.Q.Forward(tp, h), l.K.Forward(tp, h), l.V.Forward(tp, h), l.heads, true) // (B, L, D)
	x = tp.Add(x, l.Out.Forward(tp, a))
	// 2. each token on its own: x += fc2(act(fc1(LN2(x))))
	h = l.act(tp, l.FC1.Forward(tp, l.LayerNorm2.Forward(tp, x))) // (B, L, D) -> (B, L, MLPWidth)
	return tp.Add(x, l.FC2.Forward(tp, h))                        // (B, L, MLPWidth) -> (B, L, D)
}

// Pool picks each row's feature at its end token, the largest id of the
// row (as clip.Pool): last (B, L, D) -> (B, D).
func Pool(tp *grad.Tape, ids [][]int, last *grad.Var) *grad.Var {
	b, l, d := len(ids), len(ids[0]), last.Shape()[2]
	at := make([]int, b)
	for i, row := range ids {
		best := 0
		for j, id := range row {
			if id > row[best] {
				best = j
			}
		}
		at[i] = i*l + best
	}
	return tp.Embedding(tp.Reshape(last, b*l, d), at) // (B·L, D) -> (B, D)
}
