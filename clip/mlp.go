package clip

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// MLP is the feed-forward half of a layer (checkpoint: mlp): it widens each
// token's vector, applies the activation, and narrows it back, every token
// on its own.
type MLP struct {
	FC1        layer.Linear // (MLPWidth, D)
	FC2        layer.Linear // (D, MLPWidth)
	Activation string       // QuickGELU, GELU or GELUTanh
	act        func(*nn.Tensor) *nn.Tensor
}

func loadMLP(ld *weights.Loader, cfg Config) *MLP {
	act, err := activation(cfg.Activation)
	if err != nil {
		ld.Fail(err)
	}
	return &MLP{
		FC1:        layer.NewLinear(ld.Sub("fc1"), cfg.Width, cfg.MLPWidth, true),
		FC2:        layer.NewLinear(ld.Sub("fc2"), cfg.MLPWidth, cfg.Width, true),
		Activation: cfg.Activation,
		act:        act,
	}
}

// Forward maps every token's vector: (B, L, D) -> (B, L, D).
func (m *MLP) Forward(x *nn.Tensor) *nn.Tensor {
	h := m.FC1.Forward(x)   // (B, L, D) -> (B, L, MLPWidth)
	m.act(h)                // in place
	return m.FC2.Forward(h) // (B, L, MLPWidth) -> (B, L, D)
}

// activation returns the in-place function of a transformers hidden_act name.
func activation(name string) (func(*nn.Tensor) *nn.Tensor, error) {
	switch name {
	case QuickGELU:
		return nn.QuickGELU, nil
	case GELU:
		return nn.GELU, nil
	case GELUTanh, "gelu_new":
		return nn.GELUTanh, nil
	}
	return nil, fmt.Errorf("clip: unknown activation %q (want %s, %s or %s)", name, QuickGELU, GELU, GELUTanh)
}
