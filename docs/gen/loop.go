package main

import (
	"fmt"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/rng"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/tokenizer"
)

// denoise is text-to-image written out stage by stage with the packages'
// public APIs, for a plain prompt of at most 75 tokens: what
// (*pipeline.Model).Generate does, minus prompt syntax, long prompts and
// img2img. The tests check that it computes the pipeline's latents exactly.
// After each step i it calls step (when not nil) with the new latent and the
// sampler's estimate x̂₀ of the clean latent, both (1, 4, h, w), and once
// before the first step with i = −1, the starting latent and a nil x̂₀. It
// returns the final latent, to be decoded by the VAE. step must not keep
// the tensors it is given.
func denoise(m *pipeline.Model, s setup, step func(i int, latents, x0 *nn.Tensor)) (*nn.Tensor, error) {
	o, err := withSize(m, s.options())
	if err != nil {
		return nil, err
	}
	// 1–2. Tokenizer and text encoder: prompt -> (1, 77) ids -> (1, 77, D) context.
	encode := func(text string) (*nn.Tensor, error) {
		ids := m.Tokenizer.EncodePadded(text, tokenizer.ContextLength, m.Pad)
		return m.Text.Encode([][]int{ids}, clip.EncodeOptions{ClipSkip: m.TextSkip})
	}
	cond, err := encode(s.Prompt)
	if err != nil {
		return nil, err
	}
	guided := s.CFG > 1
	ctx := cond // (1, 77, D)
	if guided {
		uncond, err := encode(s.Negative)
		if err != nil {
			return nil, err
		}
		ctx = nn.From(append(append([]float32(nil), uncond.Data...), cond.Data...), 2, cond.Shape[1], cond.Shape[2]) // (2, 77, D): [uncond, cond]
	}

	// 5. The sampler, and the first latent: x_T ~ N(0, I) scaled by its initial σ.
	sched, err := scheduler.New(s.Sampler, m.Scheduler, false)
	if err != nil {
		return nil, err
	}
	if err := sched.SetTimesteps(s.Steps); err != nil {
		return nil, err
	}
	f := m.VAEFactor()
	shape := []int{1, m.UNet.Config.InChannels, o.Height / f, o.Width / f} // (1, 4, H/8, W/8)
	noise := rng.NewTorchCPU(s.Seed)
	latents := nn.New(shape...)
	noise.Normal(latents.Data)
	nn.Scale(latents, float32(sched.InitNoiseSigma()))
	if step != nil {
		step(-1, latents, nil)
	}

	in := nn.New(shape...)
	for i, t := range sched.Timesteps() {
		if err := sched.ScaleModelInput(i, in.Data, latents.Data); err != nil { // in = c_in·x
			return nil, err
		}
		x := in
		if guided {
			x = nn.From(append(append([]float32(nil), in.Data...), in.Data...), 2, shape[1], shape[2], shape[3]) // (1, 4, h, w) -> (2, 4, h, w)
		}
		// 3–4. Timestep embedding and U-Net: the predicted noise.
		out, err := m.UNet.Forward(x, []float32{float32(t)}, ctx) // (B, 4, h, w)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		eps := out.Data
		if guided { // classifier-free guidance: ε = ε_u + g·(ε_c − ε_u)
			n := len(in.Data)
			eps = make([]float32, n)
			g := float32(s.CFG)
			for j := range eps {
				u, c := out.Data[j], out.Data[n+j]
				eps[j] = u + g*(c-u)
			}
		}
		x0, err := sched.Step(i, eps, latents.Data, noise) // latents <- x_{i+1}
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		if step != nil {
			step(i, latents, nn.From(x0, shape...))
		}
	}
	return latents, nil
}
