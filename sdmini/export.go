package sdmini

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// The files of a diffusers model folder that the stages write.
const (
	textWeights = "text_encoder/model.safetensors"
	vaeWeights  = "vae/diffusion_pytorch_model.safetensors"
	unetWeights = "unet/diffusion_pytorch_model.safetensors"
)

// writeJSON writes v as indented JSON to dir/name, atomically.
func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("sdmini: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("sdmini: %s: %w", path, err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), true); err != nil {
		return fmt.Errorf("sdmini: %w", err)
	}
	return nil
}

// exportParams writes the parameters of ps whose names start with prefix
// as an fp16 safetensors file, the inference checkpoint.
func exportParams(ps *grad.Params, prefix, path string) error {
	out := grad.NewParams()
	for _, name := range ps.Names() {
		if strings.HasPrefix(name, prefix) {
			out.Add(name, ps.Get(name).Value)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("sdmini: %w", err)
	}
	return out.Export(path, weights.F16, true)
}

// textConfigJSON is transformers' CLIPTextConfig for cfg.
func textConfigJSON(cfg clip.Config) map[string]any {
	return map[string]any{
		"architectures":           []string{"CLIPTextModel"},
		"model_type":              "clip_text_model",
		"vocab_size":              cfg.VocabSize,
		"max_position_embeddings": cfg.Positions,
		"hidden_size":             cfg.Width,
		"intermediate_size":       cfg.MLPWidth,
		"num_attention_heads":     cfg.Heads,
		"num_hidden_layers":       cfg.Layers,
		"hidden_act":              cfg.Activation,
		"layer_norm_eps":          cfg.LayerNormEps,
		"bos_token_id":            cfg.BOS,
		"eos_token_id":            cfg.EOS,
		"pad_token_id":            cfg.Pad,
		"torch_dtype":             "float16",
	}
}

// vaeConfigJSON is diffusers' AutoencoderKL config for cfg.
func vaeConfigJSON(cfg vae.Config) map[string]any {
	down := make([]string, cfg.Levels())
	up := make([]string, cfg.Levels())
	for i := range down {
		down[i], up[i] = "DownEncoderBlock2D", "UpDecoderBlock2D"
	}
	m := map[string]any{
		"_class_name":             "AutoencoderKL",
		"in_channels":             cfg.InChannels,
		"out_channels":            cfg.OutChannels,
		"latent_channels":         cfg.LatentChannels,
		"block_out_channels":      cfg.BlockOut,
		"down_block_types":        down,
		"up_block_types":          up,
		"layers_per_block":        cfg.LayersPerBlock,
		"norm_num_groups":         cfg.NormGroups,
		"act_fn":                  "silu",
		"sample_size":             cfg.SampleSize,
		"scaling_factor":          cfg.ScalingFactor,
		"mid_block_add_attention": cfg.MidAttention,
		"use_quant_conv":          cfg.QuantConv,
		"use_post_quant_conv":     cfg.PostQuantConv,
	}
	if cfg.LatentsMean != nil {
		m["latents_mean"], m["latents_std"] = cfg.LatentsMean, cfg.LatentsStd
	}
	return m
}

// unetConfigJSON is diffusers' UNet2DConditionModel config for cfg.
func unetConfigJSON(cfg unet.Config) map[string]any {
	return map[string]any{
		"_class_name":                  "UNet2DConditionModel",
		"sample_size":                  cfg.SampleSize,
		"in_channels":                  cfg.InChannels,
		"out_channels":                 cfg.OutChannels,
		"block_out_channels":           cfg.BlockOutChannels,
		"layers_per_block":             cfg.LayersPerBlock,
		"down_block_types":             cfg.DownBlockTypes,
		"up_block_types":               cfg.UpBlockTypes,
		"mid_block_type":               cfg.MidBlockType,
		"attention_head_dim":           cfg.Heads,
		"cross_attention_dim":          cfg.CrossAttentionDim,
		"transformer_layers_per_block": cfg.TransformerLayersPerBlock,
		"use_linear_projection":        cfg.UseLinearProjection,
		"upcast_attention":             cfg.UpcastAttention,
		"norm_num_groups":              cfg.NormNumGroups,
		"norm_eps":                     cfg.NormEps,
		"flip_sin_to_cos":              cfg.FlipSinToCos,
		"freq_shift":                   cfg.FreqShift,
		"downsample_padding":           cfg.DownsamplePadding,
	}
}

// schedulerConfigJSON is diffusers' DDPMScheduler config for cfg.
func schedulerConfigJSON(cfg scheduler.Config) map[string]any {
	return map[string]any{
		"_class_name":         "DDPMScheduler",
		"num_train_timesteps": cfg.TrainSteps,
		"beta_start":          cfg.BetaStart,
		"beta_end":            cfg.BetaEnd,
		"beta_schedule":       cfg.BetaSchedule,
		"prediction_type":     string(cfg.Prediction),
		"steps_offset":        cfg.StepsOffset,
		"set_alpha_to_one":    cfg.SetAlphaToOne,
		"clip_sample":         false,
	}
}

// writeModelIndex writes model_index.json, which makes dir a diffusers
// StableDiffusionPipeline folder.
func writeModelIndex(dir string) error {
	return writeJSON(filepath.Join(dir, "model_index.json"), map[string]any{
		"_class_name":             "StableDiffusionPipeline",
		"_diffusers_version":      "0.27.0",
		"scheduler":               []string{"diffusers", "DDPMScheduler"},
		"text_encoder":            []string{"transformers", "CLIPTextModel"},
		"tokenizer":               []string{"transformers", "CLIPTokenizer"},
		"unet":                    []string{"diffusers", "UNet2DConditionModel"},
		"vae":                     []string{"diffusers", "AutoencoderKL"},
		"safety_checker":          []any{nil, nil},
		"feature_extractor":       []any{nil, nil},
		"requires_safety_checker": false,
	})
}

// earlierStage wraps the error of reading what stage wrote: a missing file
// means the stage has not run (yet), anything else that what it wrote is
// damaged, and the error itself names the file and what is wrong.
func earlierStage(stage string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, tokenizer.ErrNoVocab) {
		return fmt.Errorf("sdmini: run the %s stage first: %w", stage, err)
	}
	return fmt.Errorf("sdmini: reading the %s stage's output: %w", stage, err)
}

// loadTextEncoder reads the text encoder the clip stage wrote to dir.
func loadTextEncoder(dir string) (*clip.Model, error) {
	m, err := clip.LoadFile(filepath.Join(dir, textWeights))
	if err != nil {
		return nil, earlierStage("clip", err)
	}
	return m, nil
}

// loadVAE reads the autoencoder the vae stage wrote to dir.
func loadVAE(dir string) (*vae.Model, error) {
	cfg, err := vae.ReadConfig(filepath.Join(dir, "vae", "config.json"))
	if err != nil {
		return nil, earlierStage("vae", err)
	}
	f, err := weights.Open(filepath.Join(dir, vaeWeights))
	if err != nil {
		return nil, earlierStage("vae", err)
	}
	defer f.Close()
	return vae.Load(f, cfg)
}
