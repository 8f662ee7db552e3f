// Package bind is inference-time attribute binding for any Stable
// Diffusion: SynGen's linguistic binding (Rassin et al., "Linguistic Binding
// in Diffusion Models", NeurIPS 2023), run through sdgo's own autodiff.
//
// A U-Net draws "a red circle above a blue square" wrong in a particular
// way: the cross-attention map of the word "red" (where in the image the
// pixels read that word) spreads over both shapes, or lands on the square,
// and the square comes out red or purple. SynGen reads the maps while the
// image is still noise and nudges the latent so that each modifier's map
// matches its noun's ("red" ↔ "circle") and differs from the other
// objects' words ("red" ↔ "square", "blue"):
//
//	L = Σ_groups Σ_(noun, mod) [ D(mod, noun)
//	      − ½ (mean_o D(mod, o) + mean_o D(noun, o)) ]
//
// where D is the symmetric Kullback-Leibler divergence between two maps
// normalised to sum 1 over the image, and o runs over the prompt's other
// tokens (every token outside the group, between the start and end
// tokens); a group without modifiers adds nothing. The maps are the
// cross-attention probabilities of the prompt's tokens, averaged over heads
// and over every cross-attention layer at the largest map side of at most
// 16 (16×16 for SD 1.5 at 512×512, as the reference's attn_res; 8×8 for
// sd-mini). Before each of the first half of the steps (the reference's 25
// of 50) the latent moves by −α·∂L/∂x with α = 20, the reference
// implementation's syngen_step_size; the reference feeds the U-Net the
// latent unscaled with DDIM/PNDM-type samplers, where the two agree; sdgo
// differentiates with respect to the U-Net's input as the sampler scales
// it, and moves the latent so that the input moves by −α·∂L/∂x.
//
// The gradient runs back through the U-Net on a grad.Tape: a frozen copy
// of the U-Net's weights in package sdmini's trainable U-Net, which records
// the maps with grad.Tape.AttentionProbs; the loss and its gradient with
// respect to the maps are worked out by hand here (syngen.go) and seeded
// with grad.Tape.BackwardWith, so only the latent's gradient is computed,
// never the weights'. A steered step therefore costs one more forward pass
// of the U-Net (batch 1) and one backward pass to the input.
//
// The groups (a noun and the words that modify it) come from the prompt by
// a rule instead of SynGen's dependency parser: the prompt splits at "and",
// commas and relation words ("above", "left of", "on", "with", …); in each
// part, articles and position words are dropped, the last word is the noun
// and the words before it its modifiers. Groups can also be given
// explicitly (Options.Groups).
package bind
