// Package vae is Stable Diffusion's autoencoder: it turns images into
// latents, the small tensors the UNet denoises, and latents back into images.
//
// # AutoencoderKL
//
// [Model] is diffusers' AutoencoderKL (the original code's first_stage_model).
// An image of H×W pixels corresponds to a latent of H/f×W/f with f =
// 2^(levels−1) = 8 for SD's four levels, and 4 channels instead of 3: 48
// times fewer numbers.
//
// The [Encoder] runs conv_in, then per level a few [Resnet] blocks and a
// stride-2 convolution (all levels but the last), then a [MidBlock] (resnet,
// single-head self-attention over all positions, resnet) and GroupNorm →
// SiLU → conv_out. Its 2·4 output channels, after the 1×1 quant_conv, are
// the mean and log-variance of a Gaussian per latent element ([LatentDist]);
// img2img samples from it.
//
// The [Decoder] mirrors it: post_quant_conv (1×1) and conv_in at the latent
// resolution, the mid block, then per level, from the lowest resolution up,
// one more resnet than the encoder has and a nearest ×2 upsample with a 3×3
// convolution, and GroupNorm → SiLU → conv_out to RGB in about [-1, 1].
//
// Latents are rescaled for the UNet: the UNet sees z·0.18215 (the config's
// scaling_factor), so a pipeline decodes latents/0.18215 ([Model.DecodeLatents]).
//
// Every GroupNorm of the VAE has eps 1e-6, and the encoder's downsampling
// pads only the right and bottom edges (LDM's choice, kept for the weights).
//
// # Weights and configs
//
// Models load in diffusers' names; [View] presents the original LDM names
// (decoder.up.3.block.0.…, with or without first_stage_model.) under them,
// so a full SD checkpoint, a separate VAE file like vae-ft-mse, or a
// diffusers vae folder all load with [Load]. [Config] has presets ([SD15],
// [SD21]), reads diffusers' config.json ([ReadConfig]) or is read from the
// tensor shapes ([InferConfig]). [LoadPrecision] keeps an fp16 checkpoint's
// weights in half precision, read from the file's memory.
//
// # Memory and large images
//
// Each GroupNorm → SiLU → convolution and each upsample → convolution runs
// as one fused operation, so the decoder never holds a normalised or an
// upsampled copy of its largest tensors: a 512×512 decode holds at most
// 536 MB of activations (its last level's first resnet). [Model.DecodeTiled]
// and [Model.EncodeTiled] run the full-resolution part tile by tile with
// blended overlaps, so memory stays bounded whatever the size; see [Tiling].
//
// # TAESD
//
// [TinyDecoder] and [TinyEncoder] are TAESD, a tiny distilled autoencoder
// for fast previews, which works directly on the UNet's scaled latents.
//
// # Images
//
// [ToImages] converts decoder output to 8-bit RGB exactly as diffusers rounds
// it, [ImageToTensor] converts (and resizes) an init image for img2img.
package vae
