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
// The stages' defaults (Stages) fit in an hour on two cores with AVX-512. Measured with
// --threads 2 on the two-core development machine (Zen 5, AVX-512):
//
//	stage  params  steps × batch  steps/s  time
//	bpe    -       20000 captions -        < 1 s
//	clip   1.36 M  600 × 64       6.2      1 min 37 s (text tower 0.84 M kept)
//	vae    0.98 M  2500 × 8       4.2      10 min
//	unet   5.93 M  12000 × 32     5.0      37 s encoding 16384 scenes + 40 min
//
// About 52 minutes in all. On two cores of a Zen 3 (AVX2 + FMA, no AVX-512)
// the same command took about 2 h 30 min (clip 2.4 steps/s, unet 1.73–1.88
// steps/s); on another Zen 3, measured stage by stage, about 3 h, then about
// 2 h (vae 2.6–2.7 steps/s, unet 2.1–2.2) with the vae stage in parts and the
// step's loops and AdamW as exact AVX2 kernels (docs/PERFORMANCE.md, issue 25).
// The unet stage runs each batch as two halves at once, one per core, on
// local tapes (grad.NewLocalTape): its small tensors keep two cores busier
// that way than split operation by operation (3.07 steps/s). On the avx2 path
// (gemm.FastOrder) the vae stage does the same with its batches of 8. The
// folder model/ is the result of `sdgo train all --out DIR --seed 1` at commit 8a449b6 (testdata/provenance.json
// has its files' hashes; TestReproducible guards that the trainer still makes
// them): text encoder, VAE and the U-Net's EMA in fp16, 15.6 MB. It samples a
// 64×64 image (20 steps of euler_a with guidance) in about 0.2 s, and on
// 200 held-out captions at guidance 2 the pixel scorer finds the colour
// right in 95.0% of the images, the position in 98.5%, the shape in 85.0%
// (the VAE alone, encoding and decoding scenes of the same captions, keeps
// the colour in 98.0% of them and the shape in 80.5%: sdgo eval
// --reconstruct).
package sdmini
