package clip

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Encoder is the stack of transformer layers (checkpoint: text_model.encoder).
type Encoder struct {
	Layers []*Layer // checkpoint: layers.0 … layers.N-1
}

func loadEncoder(ld *weights.Loader, cfg Config) *Encoder {
	e := &Encoder{Layers: make([]*Layer, cfg.Layers)}
	for i := range e.Layers {
		e.Layers[i] = loadLayer(ld.Subf("layers.%d", i), cfg)
	}
	return e
}

// Layer is one pre-LayerNorm transformer layer: each half normalises its
// input, transforms it, and adds the result back to the residual stream x.
type Layer struct {
	LayerNorm1 layer.LayerNorm
	SelfAttn   *Attention
	LayerNorm2 layer.LayerNorm
	MLP        *MLP
}

func loadLayer(ld *weights.Loader, cfg Config) *Layer {
	return &Layer{
		LayerNorm1: layer.NewLayerNorm(ld.Sub("layer_norm1"), cfg.Width, cfg.LayerNormEps),
		SelfAttn:   loadAttention(ld.Sub("self_attn"), cfg),
		LayerNorm2: layer.NewLayerNorm(ld.Sub("layer_norm2"), cfg.Width, cfg.LayerNormEps),
		MLP:        loadMLP(ld.Sub("mlp"), cfg),
	}
}

// Forward updates x (B, L, D) in place and returns it.
func (l *Layer) Forward(x *nn.Tensor) *nn.Tensor {
	// 1. tokens look at each other: x += out_proj(attn(LN1(x)))
	nn.AddInPlace(x, l.SelfAttn.Forward(l.LayerNorm1.Forward(x))) // (B, L, D)
	// 2. each token is transformed on its own: x += fc2(act(fc1(LN2(x))))
	nn.AddInPlace(x, l.MLP.Forward(l.LayerNorm2.Forward(x))) // (B, L, D)
	return x
}
