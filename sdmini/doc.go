// Package sdmini trains sd-mini, a small Stable Diffusion built the way
// Stable Diffusion was, on the captioned world of package shapes, in pure Go.
//
// The networks are the inference packages' architectures, written a second
// time in the operations of package grad so that they can be trained:
//
//	Text  CLIP's text transformer (clip.Model), parameters text_model.…
//	VAE   the autoencoder (vae.Model): encoder.…, quant_conv, post_quant_conv, decoder.…
//	UNet  the conditional noise predictor (unet.Model): conv_in, down_blocks.…, mid_block.…, up_blocks.…
//
// Each is built from the same config type as its inference twin, names its
// parameters exactly as the diffusers/transformers checkpoints do, and
// computes the same numbers (the parity tests compare every element), so the
// trained weights are exported with grad.Params.Export and run unchanged in
// package pipeline.
//
// Training runs in stages, as Stable Diffusion's did (see Train):
//
//  1. bpe: a byte-level BPE vocabulary learned from the captions, in the
//     vocab.json/merges.txt format of package tokenizer, every word of the
//     grammar one token.
//  2. clip: the text tower trained contrastively against a small
//     convolutional image tower (CLIP's symmetric cross-entropy over a
//     batch's image–caption similarities); only the text tower is kept.
//  3. vae: the autoencoder, trained to reconstruct (L1 + L2) with a small KL
//     term; the latents' scaling factor is then measured from the data, as
//     SD's 0.18215 was, so that scaled latents have unit variance.
//  4. unet: DDPM ε-prediction on the frozen text encoder's context and the
//     frozen VAE's scaled latents, the caption dropped (replaced by the
//     empty prompt) 10% of the time so that classifier-free guidance works.
//
// Every stage saves resumable checkpoints atomically and reports its loss,
// speed and time left; the result is a diffusers-style model folder.
//
// # Budget and result
//
// The stages' defaults (Stages) fit in an hour on two cores. Measured with
// --threads 2 on the shared two-core development machine (load about 3.5):
//
//	stage  params  steps × batch  steps/s  time
//	bpe    -       20000 captions -        < 1 s
//	clip   1.36 M  600 × 64       5.5      1 min 50 s (text tower 0.84 M kept)
//	vae    0.98 M  2500 × 8       3.56     11 min 50 s
//	unet   5.93 M  6000 × 32      2.5      30 s encoding 8192 scenes + 40 min
//
// 54 minutes in all. The folder model/ is that run's result (seed 1,
// --threads 2): text encoder, VAE and U-Net in fp16, 15.6 MB. It samples a
// 64×64 image (20 steps of euler_a with guidance) in about 0.2 s, and on
// 200 held-out captions at guidance 2 the pixel scorer finds the colour
// right in 91.0% of the images, the position in 95.5%, the shape in 75.0%
// (the VAE alone reconstructs held-out shapes at 76%: its ceiling).
package sdmini
