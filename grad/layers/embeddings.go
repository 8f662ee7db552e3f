package layers

import "github.com/sdgo/sdgo/grad"

// TimestepEmbedding is the MLP that turns the sinusoidal timestep features
// into the embedding every resnet receives (diffusers' TimestepEmbedding,
// checkpoint module "time_embedding"), as unet.TimestepEmbedding.
type TimestepEmbedding struct {
	Linear1 Linear // linear_1: (C0) -> (4·C0)
	Linear2 Linear // linear_2: (4·C0) -> (4·C0)
}

// NewTimestepEmbedding creates the MLP in → dim → dim.
func NewTimestepEmbedding(b Builder, in, dim int) *TimestepEmbedding {
	return &TimestepEmbedding{
		Linear1: NewLinear(b.Sub("linear_1"), in, dim, true),
		Linear2: NewLinear(b.Sub("linear_2"), dim, dim, true),
	}
}

// Forward maps sinusoidal features (B, C0) — nn.TimestepEmbedding's output,
// a Const — to the embedding (B, 4·C0): linear_1 → SiLU → linear_2.
func (e *TimestepEmbedding) Forward(tp *grad.Tape, proj *grad.Var) *grad.Var {
	h := tp.SiLU(e.Linear1.Forward(tp, proj)) // (B, C0) -> (B, 4·C0)
	return e.Linear2.Forward(tp, h)           // (B, 4·C0) -> (B, 4·C0)
}
