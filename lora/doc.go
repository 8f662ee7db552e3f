// Package lora reads the adapters users add to a Stable Diffusion model —
// LoRA files (kohya-ss, LoCon, diffusers/PEFT), LyCORIS LoHa and LoKr, and
// textual-inversion embeddings — and applies them.
//
// An adapter file holds, per module it changes (a linear layer or a
// convolution of the U-Net or the text encoder), a few small factors whose
// product is a change Δ of that module's weight:
//
//	LoRA / LoCon: Δ = s · up·down                     up (out, r), down (r, in·kh·kw), s = alpha/r
//	LoHa:         Δ = s · (w1a·w1b) ⊙ (w2a·w2b)       (⊙: element by element)
//	LoKr:         Δ = s · w1 ⊗ w2                     (⊗: Kronecker product)
//
// and applying it with multiplier m (the W of a prompt's <lora:NAME:W>)
// changes W to W + m·Δ. [Apply] does that for a set of adapters at once,
// on private copies of the touched weights only (a memory-mapped fp16
// checkpoint stays shared), and the returned [Patch] undoes it exactly.
//
// Names: a file names each module in its own convention (kohya's
// "lora_unet_down_blocks_0_attentions_0_proj_in", the original layout's
// "lora_unet_input_blocks_1_1_proj_in", PEFT's "unet.down_blocks.0.…"). An
// [Index] is built from the model's own weight names (unet.Model.Weights,
// clip.Model.Weights) and maps every convention's key to them, as
// AUTOMATIC1111 does, so no list of module names is written here.
//
// Textual inversion: [OpenEmbedding] reads AUTOMATIC1111 .pt and
// .safetensors embeddings and diffusers' learned_embeds.bin.
package lora
