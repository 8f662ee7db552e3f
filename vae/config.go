package vae

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/sdgo/sdgo/weights"
)

// normEps is the GroupNorm epsilon of every norm in the VAE (diffusers'
// Encoder and Decoder pass eps=1e-6; the UNet uses 1e-5).
const normEps = 1e-6

// Config describes an AutoencoderKL: the fields of diffusers' vae/config.json
// that change the architecture or the latent scale.
type Config struct {
	InChannels     int   `json:"in_channels"`        // image channels in (3)
	OutChannels    int   `json:"out_channels"`       // image channels out (3)
	LatentChannels int   `json:"latent_channels"`    // latent channels (4)
	BlockOut       []int `json:"block_out_channels"` // channels per level, highest resolution first
	LayersPerBlock int   `json:"layers_per_block"`   // encoder resnets per level (decoder: one more)
	NormGroups     int   `json:"norm_num_groups"`    // GroupNorm groups (32)
	SampleSize     int   `json:"sample_size"`        // image size the model was trained at; sets the tile size

	// ScalingFactor maps encoder latents to the UNet's latent scale:
	// latents = z·ScalingFactor, and the decoder is given latents/ScalingFactor.
	ScalingFactor float64 `json:"scaling_factor"`
	// LatentsMean and LatentsStd, when set (both, one value per latent
	// channel), normalise each channel on its own, as diffusers' SDXL
	// pipelines read them (Playground v2.5 has them):
	// latents = (z − mean)·ScalingFactor/std, and the decoder is given
	// latents·std/ScalingFactor + mean. SD's VAEs leave them out.
	LatentsMean []float64 `json:"latents_mean,omitempty"`
	LatentsStd  []float64 `json:"latents_std,omitempty"`

	// MidAttention adds the single-head self-attention to the mid blocks
	// (diffusers' mid_block_add_attention; true for every SD VAE).
	MidAttention bool `json:"mid_block_add_attention"`
	// QuantConv and PostQuantConv add the 1×1 convolutions between the
	// encoder, the latent and the decoder (diffusers' use_quant_conv and
	// use_post_quant_conv; true for SD).
	QuantConv     bool `json:"use_quant_conv"`
	PostQuantConv bool `json:"use_post_quant_conv"`
}

// SD15 is the VAE of Stable Diffusion 1.x, as in
// https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/vae/config.json
// (and of the fine-tuned stabilityai/sd-vae-ft-mse).
func SD15() Config {
	return Config{
		InChannels:     3,
		OutChannels:    3,
		LatentChannels: 4,
		BlockOut:       []int{128, 256, 512, 512},
		LayersPerBlock: 2,
		NormGroups:     32,
		SampleSize:     512,
		ScalingFactor:  0.18215,
		MidAttention:   true,
		QuantConv:      true,
		PostQuantConv:  true,
	}
}

// SD21 is the VAE of Stable Diffusion 2.x, as in
// https://huggingface.co/stabilityai/stable-diffusion-2-1/blob/main/vae/config.json:
// the same network as SD 1.x, trained at 768.
func SD21() Config {
	c := SD15()
	c.SampleSize = 768
	return c
}

// Levels is the number of resolution levels (len(BlockOut)).
func (c Config) Levels() int { return len(c.BlockOut) }

// ScaleFactor is the ratio of image size to latent size, 2^(levels−1):
// 8 for SD's four levels. Images must be multiples of it.
func (c Config) ScaleFactor() int { return 1 << (len(c.BlockOut) - 1) }

// Validate reports a configuration the network cannot be built from.
func (c Config) Validate() error {
	switch {
	case len(c.BlockOut) == 0:
		return fmt.Errorf("vae: config: block_out_channels is empty")
	case c.InChannels <= 0 || c.OutChannels <= 0 || c.LatentChannels <= 0:
		return fmt.Errorf("vae: config: in/out/latent channels must be positive (%d, %d, %d)", c.InChannels, c.OutChannels, c.LatentChannels)
	case c.LayersPerBlock <= 0:
		return fmt.Errorf("vae: config: layers_per_block %d must be positive", c.LayersPerBlock)
	case c.NormGroups <= 0:
		return fmt.Errorf("vae: config: norm_num_groups %d must be positive", c.NormGroups)
	case c.ScalingFactor <= 0:
		return fmt.Errorf("vae: config: scaling_factor %g must be positive", c.ScalingFactor)
	case (c.LatentsMean == nil) != (c.LatentsStd == nil):
		return fmt.Errorf("vae: config: latents_mean and latents_std must be given together (%d and %d values)", len(c.LatentsMean), len(c.LatentsStd))
	case c.LatentsMean != nil && (len(c.LatentsMean) != c.LatentChannels || len(c.LatentsStd) != c.LatentChannels):
		return fmt.Errorf("vae: config: latents_mean and latents_std have %d and %d values, want one per latent channel (%d)", len(c.LatentsMean), len(c.LatentsStd), c.LatentChannels)
	}
	for i, s := range c.LatentsStd {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("vae: config: latents_std[%d] %g must be positive", i, s)
		}
	}
	for i, m := range c.LatentsMean {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("vae: config: latents_mean[%d] %g must be finite", i, m)
		}
	}
	for _, ch := range c.BlockOut {
		if ch <= 0 || ch%c.NormGroups != 0 {
			return fmt.Errorf("vae: config: block_out_channels %v must be positive multiples of norm_num_groups %d", c.BlockOut, c.NormGroups)
		}
	}
	return nil
}

// ParseConfig reads diffusers' vae/config.json. Fields the file leaves out
// keep their SD 1.5 values; diffusers' defaults for the booleans are true.
func ParseConfig(data []byte) (Config, error) {
	c := SD15()
	c.BlockOut = nil
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("vae: config: %w", err)
	}
	if c.BlockOut == nil {
		c.BlockOut = SD15().BlockOut
	}
	return c, c.Validate()
}

// ReadConfig reads diffusers' vae/config.json from path.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("vae: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%w (%s)", err, path)
	}
	return c, nil
}

// InferConfig reads the architecture from the tensor shapes of a checkpoint in
// diffusers naming (see [View] for other layouts), for single-file checkpoints
// that come without a config.json. What shapes cannot tell (scaling factor,
// group count, sample size) is taken from SD 1.5.
func InferConfig(src weights.Source) (Config, error) {
	c := SD15()
	shape := func(name string) []int {
		in, ok := src.Info(name)
		if !ok {
			return nil
		}
		return in.Shape
	}
	// decoder.conv_out: (out, BlockOut[0], 3, 3); decoder.conv_in: (BlockOut[-1], latent, 3, 3).
	out, in := shape("decoder.conv_out.weight"), shape("decoder.conv_in.weight")
	if len(out) != 4 || len(in) != 4 {
		return Config{}, fmt.Errorf("vae: infer config: decoder.conv_in/conv_out weights not found")
	}
	c.OutChannels, c.LatentChannels = out[0], in[1]
	// The levels: decoder.up_blocks.i.resnets.0.conv1 (BlockOut[n-1-i], …).
	c.BlockOut = nil
	for i := 0; ; i++ {
		s := shape(fmt.Sprintf("decoder.up_blocks.%d.resnets.0.conv1.weight", i))
		if s == nil {
			break
		}
		c.BlockOut = append([]int{s[0]}, c.BlockOut...)
	}
	if len(c.BlockOut) == 0 {
		return Config{}, fmt.Errorf("vae: infer config: no decoder.up_blocks found")
	}
	// The decoder has LayersPerBlock+1 resnets per level.
	layers := 0
	for shape(fmt.Sprintf("decoder.up_blocks.0.resnets.%d.conv1.weight", layers)) != nil {
		layers++
	}
	c.LayersPerBlock = layers - 1
	if s := shape("encoder.conv_in.weight"); len(s) == 4 {
		c.InChannels = s[1]
	} else {
		c.InChannels = c.OutChannels
	}
	_, c.MidAttention = src.Info("decoder.mid_block.attentions.0.to_q.weight")
	_, c.QuantConv = src.Info("quant_conv.weight")
	_, c.PostQuantConv = src.Info("post_quant_conv.weight")
	return c, c.Validate()
}
