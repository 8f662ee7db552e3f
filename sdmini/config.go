package sdmini

import (
	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
)

// ImageSize is the side of sd-mini's images; the VAE makes latents of
// ImageSize/8 = 8 per side.
const ImageSize = 64

// TextConfig is sd-mini's text encoder: SD 1.x's architecture (QuickGELU,
// causal, 77 positions) at width 128, 4 layers of 4 heads, over a learned
// vocabulary of vocabSize tokens.
func TextConfig(vocabSize int) clip.Config {
	return clip.Config{
		VocabSize:    vocabSize,
		Positions:    77,
		Width:        128,
		MLPWidth:     512,
		Heads:        4,
		Layers:       4,
		Activation:   clip.QuickGELU,
		LayerNormEps: 1e-5,
		BOS:          vocabSize - 2,
		EOS:          vocabSize - 1,
		Pad:          vocabSize - 1,
	}
}

// VAEConfig is sd-mini's autoencoder: four levels (×8 downsampling) to four
// latent channels, as SD's, with 16 to 64 channels instead of 128 to 512 and
// one resnet per level. ScalingFactor is set by the VAE stage from the
// data (see ScalingFactor).
func VAEConfig() vae.Config {
	return vae.Config{
		InChannels:     3,
		OutChannels:    3,
		LatentChannels: 4,
		BlockOut:       []int{16, 32, 64, 64},
		LayersPerBlock: 1,
		NormGroups:     8,
		SampleSize:     ImageSize,
		ScalingFactor:  1,
		MidAttention:   true,
		QuantConv:      true,
		PostQuantConv:  true,
	}
}

// UNetConfig is sd-mini's noise predictor on 8×8 latents: three levels
// (8, 4, 2) of 64, 128, 128 channels, cross-attention at the two upper
// levels and in the mid block, 4 heads, a 128-wide context.
func UNetConfig() unet.Config {
	return unet.Config{
		SampleSize:                ImageSize / 8,
		InChannels:                4,
		OutChannels:               4,
		BlockOutChannels:          []int{64, 128, 128},
		LayersPerBlock:            1,
		DownBlockTypes:            []string{unet.CrossAttnDownBlock2D, unet.CrossAttnDownBlock2D, unet.DownBlock2D},
		UpBlockTypes:              []string{unet.UpBlock2D, unet.CrossAttnUpBlock2D, unet.CrossAttnUpBlock2D},
		MidBlockType:              unet.UNetMidBlock2DCrossAttn,
		Heads:                     []int{4, 4, 4},
		CrossAttentionDim:         128,
		TransformerLayersPerBlock: []int{1, 1, 1},
		UseLinearProjection:       true,
		NormNumGroups:             32,
		NormEps:                   1e-5,
		FlipSinToCos:              true,
		DownsamplePadding:         1,
	}
}

// SchedulerConfig is the training noise schedule: SD 1.5's (1000 steps,
// scaled-linear betas 0.00085 to 0.012, ε-prediction).
func SchedulerConfig() scheduler.Config { return scheduler.SD15() }
