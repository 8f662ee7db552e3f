package vae

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// Model is Stable Diffusion's variational autoencoder (diffusers'
// AutoencoderKL; LDM: first_stage_model), which maps images to latents
// f = 2^(levels−1) times smaller in each direction (8 for SD) and back.
type Model struct {
	Config        Config
	Encoder       *Encoder // nil when the checkpoint holds only a decoder
	Decoder       *Decoder
	QuantConv     *layer.Conv2d // (2·Latent, 2·Latent, 1, 1), or nil (use_quant_conv false)
	PostQuantConv *layer.Conv2d // (Latent, Latent, 1, 1), or nil (use_post_quant_conv false)
}

// Load builds the model from src, which may use diffusers' names
// (decoder.up_blocks.0.…) or the original LDM names (decoder.up.3.…),
// with or without a first_stage_model. or vae. prefix: a full SD checkpoint,
// a separate VAE file such as vae-ft-mse, or diffusers' vae folder's weights.
// A zero cfg (no BlockOut) is read from the tensor shapes with
// [InferConfig], for single-file checkpoints that come without a config.json.
// The weights are read as float32; see [LoadPrecision].
func Load(src weights.Source, cfg Config) (*Model, error) {
	return LoadPrecision(src, cfg, weights.KeepFloat32)
}

// LoadPrecision is Load keeping the convolutions' and linear layers' weights
// in precision p (see weights.Precision). With weights.KeepStored an fp16
// checkpoint's 84 M weights (SD's VAE with its encoder) stay in half
// precision, 167 MB instead of 335 MB, read from the file's memory mapping
// where it allows: src must then stay open while the model is used. The
// products convert them exactly, so the model computes the same numbers as
// one loaded in float32 from the same file.
func LoadPrecision(src weights.Source, cfg Config, p weights.Precision) (*Model, error) {
	v, err := View(src)
	if err != nil {
		return nil, err
	}
	if cfg.BlockOut == nil {
		if cfg, err = InferConfig(v); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ld := weights.NewLoader(v, "").WithPrecision(p)
	m := &Model{Config: cfg, Decoder: loadDecoder(ld.Sub("decoder"), cfg)}
	if ld.Has("encoder.conv_in.weight") {
		m.Encoder = loadEncoder(ld.Sub("encoder"), cfg)
	}
	l := cfg.LatentChannels
	if cfg.QuantConv && m.Encoder != nil {
		c := layer.NewConv2d(ld.Sub("quant_conv"), 2*l, 2*l, 1, 1, 0)
		m.QuantConv = &c
	}
	if cfg.PostQuantConv {
		c := layer.NewConv2d(ld.Sub("post_quant_conv"), l, l, 1, 1, 0)
		m.PostQuantConv = &c
	}
	// Strict: a tensor nobody read means the config and the checkpoint
	// disagree (say, more resnets per level than the config says).
	if err := ld.Check(true); err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	return m, nil
}

// LoadDiffusers loads the VAE of a diffusers pipeline folder: dir/vae's
// config.json and weights (the .fp16 variant first with preferFP16).
func LoadDiffusers(dir string, preferFP16 bool) (*Model, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "vae", "config.json"))
	if err != nil {
		return nil, err
	}
	src, closeFn, err := weights.OpenDiffusers(dir, "vae", preferFP16)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	defer closeFn() // Load makes float32 copies of every tensor, so the files may close
	return Load(src, cfg)
}

// Decode maps z (B, Latent, h, w) to an image (B, Out, h·f, w·f) in about
// [-1, 1], unclamped: diffusers' vae.decode(z).sample. z is the UNet's
// latents divided by the scaling factor; see [Model.DecodeLatents].
func (m *Model) Decode(z *nn.Tensor) (*nn.Tensor, error) {
	if err := m.checkLatent(z); err != nil {
		return nil, err
	}
	return m.Decoder.Forward(m.postQuant(z)), nil
}

// DecodeLatents decodes the UNet's latents: Decode(Unscale(latents)).
func (m *Model) DecodeLatents(latents *nn.Tensor) (*nn.Tensor, error) {
	return m.Decode(m.Unscale(latents))
}

// Unscale returns the decoder's input for the UNet's latents (B, C, h, w):
// latents / ScalingFactor, or, with the config's per-channel statistics,
// latents·std/ScalingFactor + mean, channel by channel.
func (m *Model) Unscale(latents *nn.Tensor) *nn.Tensor {
	z := latents.Clone()
	sf := float32(m.Config.ScalingFactor)
	if m.Config.LatentsMean == nil {
		for i := range z.Data {
			z.Data[i] /= sf
		}
		return z
	}
	m.perChannel(z, func(d []float32, mean, std float32) {
		for i := range d {
			d[i] = d[i]*std/sf + mean
		}
	})
	return z
}

// Scale returns the UNet's latents for the encoder's z (B, C, h, w) (what
// img2img gives the scheduler): z·ScalingFactor, or, with the config's
// per-channel statistics, (z − mean)·ScalingFactor/std, channel by channel.
func (m *Model) Scale(z *nn.Tensor) *nn.Tensor {
	sf := float32(m.Config.ScalingFactor)
	if m.Config.LatentsMean == nil {
		return nn.Scale(z.Clone(), sf)
	}
	out := z.Clone()
	m.perChannel(out, func(d []float32, mean, std float32) {
		for i := range d {
			d[i] = (d[i] - mean) * sf / std
		}
	})
	return out
}

// perChannel calls fn with each latent channel's plane of t (B, C, h, w)
// and that channel's latents_mean and latents_std. Tensors of another shape
// are left as they are, for Decode's check to name.
func (m *Model) perChannel(t *nn.Tensor, fn func(d []float32, mean, std float32)) {
	if len(t.Shape) != 4 || t.Shape[1] != m.Config.LatentChannels || t.Shape[2]*t.Shape[3] == 0 {
		return
	}
	plane := t.Shape[2] * t.Shape[3] // h·w
	for i := 0; i < t.Len(); i += plane {
		c := i / plane % t.Shape[1]
		fn(t.Data[i:i+plane], float32(m.Config.LatentsMean[c]), float32(m.Config.LatentsStd[c]))
	}
}

// Encode maps an image x (B, In, H, W) in [-1, 1] to the latent
// distribution (B, Latent, H/f, W/f): diffusers' vae.encode(x).latent_dist.
func (m *Model) Encode(x *nn.Tensor) (*LatentDist, error) {
	if err := m.checkImage(x); err != nil {
		return nil, err
	}
	return m.moments(m.Encoder.Forward(x)), nil
}

// postQuant applies post_quant_conv when the model has one.
func (m *Model) postQuant(z *nn.Tensor) *nn.Tensor {
	if m.PostQuantConv == nil {
		return z
	}
	z = m.PostQuantConv.Forward(z) // (B, L, h, w) -> (B, L, h, w)
	m.Decoder.trace("dec.post_quant_conv", z)
	return z
}

// moments applies quant_conv and splits the result into the distribution.
func (m *Model) moments(h *nn.Tensor) *LatentDist {
	if m.QuantConv != nil {
		h = m.QuantConv.Forward(h) // (B, 2L, h, w) -> (B, 2L, h, w)
		m.Encoder.trace("enc.quant_conv", h)
	}
	return newLatentDist(h)
}

func (m *Model) checkLatent(z *nn.Tensor) error {
	if len(z.Shape) != 4 || z.Shape[1] != m.Config.LatentChannels || z.Len() == 0 {
		return fmt.Errorf("vae: decode: latents of shape %v, want (B, %d, h, w)", z.Shape, m.Config.LatentChannels)
	}
	return nil
}

func (m *Model) checkImage(x *nn.Tensor) error {
	if m.Encoder == nil {
		return fmt.Errorf("vae: encode: the checkpoint holds no encoder")
	}
	f := m.Config.ScaleFactor()
	if len(x.Shape) != 4 || x.Shape[1] != m.Config.InChannels || x.Len() == 0 || x.Shape[2]%f != 0 || x.Shape[3]%f != 0 {
		return fmt.Errorf("vae: encode: image of shape %v, want (B, %d, H, W) with H and W multiples of %d", x.Shape, m.Config.InChannels, f)
	}
	return nil
}

// Normal is a source of standard normal noise (see package rng).
type Normal interface {
	// Normal fills dst with independent N(0, 1) samples.
	Normal(dst []float32)
}

// LatentDist is the diagonal Gaussian the encoder predicts for each latent
// element (diffusers' DiagonalGaussianDistribution).
type LatentDist struct {
	Mean   *nn.Tensor // (B, L, h, w)
	LogVar *nn.Tensor // (B, L, h, w), clamped to [-30, 20]
}

// newLatentDist splits moments (B, 2L, h, w) into mean and log-variance.
func newLatentDist(moments *nn.Tensor) *LatentDist {
	b, c2, h, w := moments.Shape[0], moments.Shape[1], moments.Shape[2], moments.Shape[3]
	l, plane := c2/2, h*w
	d := &LatentDist{Mean: nn.New(b, l, h, w), LogVar: nn.New(b, l, h, w)}
	for bi := 0; bi < b; bi++ {
		src := moments.Data[bi*c2*plane:]
		copy(d.Mean.Data[bi*l*plane:(bi+1)*l*plane], src[:l*plane])
		lv := d.LogVar.Data[bi*l*plane : (bi+1)*l*plane]
		for i, v := range src[l*plane : 2*l*plane] {
			lv[i] = min(max(v, -30), 20)
		}
	}
	return d
}

// Std returns exp(½·LogVar), the standard deviation.
func (d *LatentDist) Std() *nn.Tensor {
	s := nn.New(d.LogVar.Shape...)
	for i, v := range d.LogVar.Data {
		s.Data[i] = float32(math.Exp(float64(0.5 * v)))
	}
	return s
}

// Sample returns Mean + Std·ε with ε drawn from noise in the tensor's
// element order (diffusers' latent_dist.sample(generator)); with a nil
// noise source it returns the mean (latent_dist.mode()).
func (d *LatentDist) Sample(noise Normal) *nn.Tensor {
	if noise == nil {
		return d.Mean.Clone()
	}
	z := nn.New(d.Mean.Shape...)
	noise.Normal(z.Data)
	for i, lv := range d.LogVar.Data {
		std := float32(math.Exp(float64(0.5 * lv)))
		z.Data[i] = d.Mean.Data[i] + std*z.Data[i]
	}
	return z
}
