// Package clip is the text encoder of Stable Diffusion: the text tower of
// CLIP, a transformer that turns a prompt's token ids into one vector per
// token, the "context" the U-Net's cross-attention layers read.
//
// # Architecture
//
// The input is B rows of 77 token ids (from package tokenizer: a start token,
// the prompt, an end token, padding). The model is
//
//	x = TokenEmbedding[ids] + PositionEmbedding[0…76]    (B, 77) -> (B, 77, D)
//	for each of N layers (pre-LayerNorm transformer):
//	    x += OutProj(CausalSelfAttention(LayerNorm1(x)))  tokens look back at earlier tokens
//	    x += FC2(act(FC1(LayerNorm2(x))))                 each token on its own, D -> 4D -> D
//	context = FinalLayerNorm(x)                           (B, 77, D)
//
// The attention is causal: token i sees tokens 0…i only, so the padding after
// the end token never changes the prompt's own tokens. Stable Diffusion
// passes no padding mask.
//
// Two configurations matter (see SD1 and SD2):
//
//   - SD 1.x: OpenAI CLIP ViT-L/14, D = 768, 12 heads, 12 layers, QuickGELU.
//   - SD 2.x: OpenCLIP ViT-H/14, D = 1024, 16 heads, GELU. Of its 24 layers
//     SD 2.x uses the output of the 23rd, through the final LayerNorm.
//
// # Outputs
//
// [Model.Encode] returns the context. Its ClipSkip option returns an earlier
// layer's output instead, through the final LayerNorm as diffusers does
// ("clip skip 2" is the penultimate layer). [Model.HiddenStates] returns the
// residual stream after the embeddings and after every layer, as
// transformers' hidden_states. [Model.Pooled] returns the last layer's
// (normed) row of each prompt's end token (transformers' pooler_output), a
// summary of the whole prompt that sees every token before it.
//
// # Checkpoints
//
// [Load] reads the weights from a [weights.Source] in any of the layouts
// users have, in F32, F16 or BF16:
//
//   - transformers and diffusers (text_encoder/model.safetensors):
//     text_model.embeddings.token_embedding.weight, …, with or without the
//     int64 buffer text_model.embeddings.position_ids;
//   - SD 1.x single file: cond_stage_model.transformer.text_model.…;
//   - SD 2.x single file (OpenCLIP): cond_stage_model.model.token_embedding.weight,
//     positional_embedding, transformer.resblocks.N.attn.in_proj_weight (q, k
//     and v stacked), ln_final, …
//
// The single-file layouts are seen through [weights.TextFromLDM], which
// renames them to transformers' names and splits the fused q;k;v.
//
// The Go types mirror transformers' module tree (Model.Encoder.Layers[3].SelfAttn.QProj
// is text_model.encoder.layers.3.self_attn.q_proj). [LoadFile] opens a file
// and takes its config from the config.json beside it, or from the shapes.
//
// The numbers match transformers' CLIPTextModel to about 2e-6 (float32).
package clip
