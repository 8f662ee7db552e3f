// Package rng draws the same random numbers PyTorch draws, so that a seed
// gives the same initial latents (and sampler noise) as other Stable
// Diffusion tools.
//
// Two generators cover the tools in use:
//
//   - TorchCPU is torch's CPU generator, a 32-bit Mersenne Twister
//     (mt19937) with torch's own uniform and Box-Muller transforms. HF
//     diffusers uses it whenever the pipeline is given
//     torch.Generator("cpu").manual_seed(seed) – its documentation advises
//     a CPU generator precisely because it is the same on every machine.
//     Its output is bit-identical to torch's.
//
//   - Philox is torch's CUDA generator, Philox 4x32-10 with curand's
//     Box-Muller, used when noise is drawn with device="cuda" after
//     torch.manual_seed(seed). That is AUTOMATIC1111's default "GPU" seed
//     and stable-diffusion.cpp's "cuda" RNG. Its uniforms are bit-identical;
//     its normals agree to within about 2·10⁻⁶ (a few float32 ulps), because
//     the GPU takes their sine from a hardware approximation whose tables
//     are not public.
//
// The two streams have nothing in common: the same seed gives unrelated
// latents in diffusers (CPU generator) and in the web UIs (CUDA generator),
// which is why an image from one does not reproduce in the other until the
// generator is matched. The mt19937 stream is sequential – element i depends
// on every draw before it – while Philox is counter-based: element i of a call
// is a pure function of (seed, offset, i), which is why GPUs and the web UIs
// favour it, and why it does not depend on the batch size.
//
// Both implement Source. As in torch, a call's length matters, not only the
// total drawn: torch.randn(2, 16) is one call of 32 elements, and the CPU
// generator treats calls below 16 elements differently from longer ones, so
// ask for a whole tensor at once, with the tensor's element count.
package rng
