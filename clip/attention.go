package clip

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Attention is causal multi-head self-attention (checkpoint: self_attn).
// Every token is projected to a query, a key and a value; each head compares
// a token's query with the keys of that token and the ones before it (never
// after: the mask is causal, as in a language model), and mixes their values
// by the softmax of those scores.
type Attention struct {
	QProj   layer.Linear // (D, D): queries, the heads side by side (H × D/H)
	KProj   layer.Linear // (D, D): keys
	VProj   layer.Linear // (D, D): values
	OutProj layer.Linear // (D, D): mixes the heads' outputs back together
	Heads   int
}

func loadAttention(ld *weights.Loader, cfg Config) *Attention {
	d := cfg.Width
	return &Attention{
		QProj:   layer.NewLinear(ld.Sub("q_proj"), d, d, true),
		KProj:   layer.NewLinear(ld.Sub("k_proj"), d, d, true),
		VProj:   layer.NewLinear(ld.Sub("v_proj"), d, d, true),
		OutProj: layer.NewLinear(ld.Sub("out_proj"), d, d, true),
		Heads:   cfg.Heads,
	}
}

// Forward attends x to itself: (B, L, D) -> (B, L, D).
func (a *Attention) Forward(x *nn.Tensor) *nn.Tensor {
	q := a.QProj.Forward(x) // (B, L, D)
	k := a.KProj.Forward(x) // (B, L, D)
	v := a.VProj.Forward(x) // (B, L, D)
	// softmax(q·kᵀ/√(D/H) + causal mask)·v per head. transformers scales q
	// before the product, nn.Attention scales the product: the same numbers
	// up to rounding (~1e-7).
	o := nn.Attention(q, k, v, a.Heads, true) // (B, L, D)
	return a.OutProj.Forward(o)               // (B, L, D)
}
