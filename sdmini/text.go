package sdmini

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
)

// Text is CLIP's text transformer (transformers' CLIPTextModel) written in
// grad operations, the trainable twin of clip.Model: the same module tree,
// the same parameter names (text_model.…), the same arithmetic.
type Text struct {
	Config            clip.Config
	TokenEmbedding    *grad.Var // (VocabSize, D)
	PositionEmbedding *grad.Var // (Positions, D)
	Layers            []*textLayer
	FinalLayerNorm    norm
}

// textLayer is one pre-LayerNorm transformer layer (encoder.layers.N).
type textLayer struct {
	LayerNorm1   norm
	Q, K, V, Out linear // self_attn.{q,k,v,out}_proj
	LayerNorm2   norm
	FC1, FC2     linear // mlp.fc1, mlp.fc2
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
	b := newBuilder(ps, r, "text_model.")
	d := cfg.Width
	m := &Text{
		Config:            cfg,
		TokenEmbedding:    b.sub("embeddings.token_embedding").add("weight", grad.Normal(r, 0.02, cfg.VocabSize, d)),
		PositionEmbedding: b.sub("embeddings.position_embedding").add("weight", grad.Normal(r, 0.01, cfg.Positions, d)),
	}
	for i := range cfg.Layers {
		l := b.subf("encoder.layers.%d", i)
		attn := l.sub("self_attn")
		m.Layers = append(m.Layers, &textLayer{
			LayerNorm1: l.sub("layer_norm1").layerNorm(d, cfg.LayerNormEps),
			Q:          attn.sub("q_proj").linear(d, d, true),
			K:          attn.sub("k_proj").linear(d, d, true),
			V:          attn.sub("v_proj").linear(d, d, true),
			Out:        attn.sub("out_proj").linear(d, d, true),
			LayerNorm2: l.sub("layer_norm2").layerNorm(d, cfg.LayerNormEps),
			FC1:        l.sub("mlp.fc1").linear(d, cfg.MLPWidth, true),
			FC2:        l.sub("mlp.fc2").linear(cfg.MLPWidth, d, true),
			heads:      cfg.Heads,
			act:        act,
		})
	}
	m.FinalLayerNorm = b.sub("final_layer_norm").layerNorm(d, cfg.LayerNormEps)
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
	x := tp.Reshape(tp.Embedding(m.TokenEmbedding, flat), b, l, d) // (B·L, D) -> (B, L, D)
	x = tp.Add(x, tp.Embedding(m.PositionEmbedding, pos))          // + (L, D)
	for _, layer := range m.Layers {
		x = layer.forward(tp, x)
	}
	return m.FinalLayerNorm.forward(tp, x) // (B, L, D)
}

// forward applies one layer: (B, L, D) -> (B, L, D).
func (l *textLayer) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	// 1. tokens look at the ones before them: x += out_proj(attn(LN1(x)))
	h := l.LayerNorm1.forward(tp, x)
	a := tp.Attention(l.Q.forward(tp, h), l.K.forward(tp, h), l.V.forward(tp, h), l.heads, true) // (B, L, D)
	x = tp.Add(x, l.Out.forward(tp, a))
	// 2. each token on its own: x += fc2(act(fc1(LN2(x))))
	h = l.act(tp, l.FC1.forward(tp, l.LayerNorm2.forward(tp, x))) // (B, L, D) -> (B, L, MLPWidth)
	return tp.Add(x, l.FC2.forward(tp, h))                        // (B, L, MLPWidth) -> (B, L, D)
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
