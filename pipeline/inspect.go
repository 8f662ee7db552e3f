package pipeline

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
)

// StepDetail is everything one sampler step computed, for Options.Inspect
// (the server's Explore page shows it). Every tensor is (1, 4, h, w) and is
// valid only during the call: copy what you keep.
type StepDetail struct {
	Image, Step int       // which image of the batch and which step (from 0)
	Timesteps   []float64 // the U-Net timestep of every step of this run
	Sigmas      []float32 // the σ of every step for σ samplers (Euler, LMS, …), else nil
	Timestep    float64   // Timesteps[Step]

	// The U-Net's outputs: without the prompt (the negative prompt's; nil
	// when guidance is off), with it, and the guided mix
	// ε = ε_u + g·(ε_c − ε_u) the sampler used (ε_c when guidance is off).
	EpsUncond, EpsCond, Eps *nn.Tensor
	X0                      *nn.Tensor // the sampler's estimate of the clean latent x̂₀
	Latents                 *nn.Tensor // the latent after the step
}

// inspect calls o.Inspect after step i, with out the U-Net's (B, 4, h, w)
// output ([uncond, cond] when guided) and pred the guided mix.
func (o Options) inspect(index, i, first int, sched scheduler.Scheduler, out, pred *nn.Tensor, x0 []float32, latents *nn.Tensor) {
	if o.Inspect == nil {
		return
	}
	shape := latents.Shape
	d := StepDetail{Image: index, Step: i - first, Timesteps: sched.Timesteps()[first:], Timestep: sched.Timesteps()[i],
		Eps: pred, Latents: latents}
	if len(x0) == len(latents.Data) {
		d.X0 = nn.From(x0, shape...)
	}
	if s, ok := sched.(interface{ Sigmas() []float32 }); ok {
		d.Sigmas = s.Sigmas()[first:]
	}
	n := len(latents.Data)
	if len(out.Data) == 2*n {
		d.EpsUncond, d.EpsCond = nn.From(out.Data[:n], shape...), nn.From(out.Data[n:], shape...)
	} else {
		d.EpsCond = nn.From(out.Data[:n], shape...)
	}
	o.Inspect(d)
}
