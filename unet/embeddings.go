package unet

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// maxPeriod is the longest wavelength of the sinusoidal timestep embedding
// (diffusers' get_timestep_embedding default, from "Attention Is All You Need").
const maxPeriod = 10000

// TimestepEmbedding is the MLP that turns the sinusoidal timestep features
// into the embedding every resnet receives (diffusers' TimestepEmbedding,
// checkpoint module "time_embedding"; LDM "time_embed.0"/"time_embed.2").
type TimestepEmbedding struct {
	Linear1 layer.Linear // linear_1: (C0) -> (4·C0)
	Linear2 layer.Linear // linear_2: (4·C0) -> (4·C0)
}

func loadTimestepEmbedding(ld *weights.Loader, in, dim int) *TimestepEmbedding {
	return &TimestepEmbedding{
		Linear1: layer.NewLinear(ld.Sub("linear_1"), in, dim, true),
		Linear2: layer.NewLinear(ld.Sub("linear_2"), dim, dim, true),
	}
}

// Forward maps sinusoidal features (B, C0) to the embedding (B, 4·C0):
// linear_1 → SiLU → linear_2.
func (e *TimestepEmbedding) Forward(proj *nn.Tensor) *nn.Tensor {
	h := nn.SiLU(e.Linear1.Forward(proj)) // (B, C0) -> (B, 4·C0)
	return e.Linear2.Forward(h)           // (B, 4·C0) -> (B, 4·C0)
}

// timeProj is diffusers' Timesteps module ("time_proj", no weights): the
// sinusoidal features of each timestep, t (B) -> (B, C0). Timesteps may be
// fractional (Euler-type schedulers pass them so); they are taken as float32.
func timeProj(t []float32, cfg Config) *nn.Tensor {
	return nn.TimestepEmbedding(t, cfg.BlockOutChannels[0], cfg.FlipSinToCos, cfg.FreqShift, maxPeriod)
}
