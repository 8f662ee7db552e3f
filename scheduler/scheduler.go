package scheduler

import (
	"fmt"
	"strings"
)

// Scheduler turns the U-Net's prediction into the next latent. The steps of
// a schedule are indexed by i = 0, 1, …, len(Timesteps())−1; a sampling loop
// reads
//
//	s.SetTimesteps(n)
//	x := x_T · s.InitNoiseSigma()                 // x_T ~ N(0, I), latent shape (B, 4, H/8, W/8)
//	for i, t := range s.Timesteps() {
//		s.ScaleModelInput(i, in, x)              // in = c_in(i)·x
//		out := unet(in, t)                       // ε̂ or v̂, same shape
//		s.Step(i, out, x, noise)                 // x ← x_{i+1}
//	}
//
// Latents are flat []float32 of any shape: every operation is elementwise.
// Steps must be taken in order from the first step (0, or [Scheduler.Start]
// for img2img) because multistep samplers keep a history; SetTimesteps
// clears it. The σ samplers (*Euler, *EulerAncestral, *LMS, *Heun,
// *DPMSolver) also report their noise levels with Sigmas() []float32. A
// Scheduler is not safe for concurrent use.
type Scheduler interface {
	// SetTimesteps prepares a schedule of n denoising steps and clears the
	// sampler's history.
	SetTimesteps(n int) error
	// Timesteps returns the U-Net timestep of each step: element i is the t
	// to give the model at step i. Its length is the number of Step calls:
	// n, or n+1 for PNDM and 2n−1 for Heun. Values are integers or, for the
	// σ samplers, float32-exact fractions. The caller must not modify it.
	Timesteps() []float64
	// InitNoiseSigma is the standard deviation of the first latent:
	// x = InitNoiseSigma()·x_T with x_T ~ N(0, I).
	InitNoiseSigma() float64
	// ScaleModelInput writes the U-Net input of step i, c_in·sample, into
	// dst (dst may be sample). c_in is 1/√(σᵢ²+1) for Euler, Euler a, LMS
	// and Heun, 1 for the others.
	ScaleModelInput(i int, dst, sample []float32) error
	// Step takes step i: given the model's output at Timesteps()[i] and the
	// current sample, it overwrites sample with the next one. It returns the
	// step's estimate of the clean latent x̂₀ (LCM: its boundary-condition
	// output "denoised"), a buffer the scheduler reuses on the next Step.
	// Stochastic samplers (ddpm, euler_a, lcm, ddim with η > 0) draw
	// standard normal noise from noise; the others ignore it (it may be nil).
	Step(i int, modelOutput, sample []float32, noise Noise) (x0 []float32, err error)
	// AddNoise writes x0 noised to the level of step i into dst, the first
	// latent of img2img started at step i: x0 + σᵢ·noise for Euler, Euler a,
	// LMS and Heun; √ᾱₜ·x0 + √(1−ᾱₜ)·noise otherwise (DPM-Solver: with
	// ᾱ = 1/(σᵢ²+1)). i = len(Timesteps()) gives x0. dst may alias x0 or
	// noise.
	AddNoise(i int, dst, x0, noise []float32) error
	// Start returns the first step of img2img at strength ∈ [0, 1] (1: start
	// from pure noise, 0: no step), as diffusers' get_timesteps computes it:
	// init = min(⌊n·strength⌋, n), start = max(n − init, 0)·order, where order
	// is 2 for Heun and 1 otherwise. Run steps Start(strength) … end.
	Start(strength float64) int
}

// Noise is a source of standard normal noise, such as package rng's
// torch-exact generators. Normal fills dst with independent N(0, 1) samples.
type Noise interface {
	Normal(dst []float32)
}

// sampler describes one name of [New].
type sampler struct {
	name   string
	karras bool // accepts Karras sigmas
	make   func(sched *Schedule, cfg Config, karras bool) Scheduler
}

// samplers lists the names of [New] in the order of [Names].
var samplers = []sampler{
	{"ddpm", false, func(s *Schedule, c Config, _ bool) Scheduler { return &DDPM{base: newBase(s, c)} }},
	{"ddim", false, func(s *Schedule, c Config, _ bool) Scheduler { return &DDIM{base: newBase(s, c)} }},
	{"pndm", false, func(s *Schedule, c Config, _ bool) Scheduler { return &PNDM{base: newBase(s, c)} }},
	{"lms", true, func(s *Schedule, c Config, k bool) Scheduler { return &LMS{sigmaBase: newSigmaBase(s, c, k)} }},
	{"euler", true, func(s *Schedule, c Config, k bool) Scheduler { return &Euler{sigmaBase: newSigmaBase(s, c, k)} }},
	{"euler_a", true, func(s *Schedule, c Config, k bool) Scheduler {
		return &EulerAncestral{sigmaBase: newSigmaBase(s, c, k)}
	}},
	{"heun", true, func(s *Schedule, c Config, k bool) Scheduler { return &Heun{sigmaBase: newSigmaBase(s, c, k)} }},
	{"dpm++2m", true, func(s *Schedule, c Config, k bool) Scheduler { return &DPMSolver{sigmaBase: newSigmaBase(s, c, k)} }},
	{"lcm", false, func(s *Schedule, c Config, _ bool) Scheduler { return &LCM{base: newBase(s, c)} }},
}

// Names returns the sampler names [New] accepts: ddpm, ddim, pndm, lms,
// euler, euler_a, heun, dpm++2m, lcm.
func Names() []string {
	names := make([]string, len(samplers))
	for i, s := range samplers {
		names[i] = s.name
	}
	return names
}

// New returns the sampler called name (one of [Names]) for a model trained
// with cfg. karras selects the Karras et al. (2022) σ schedule (ρ = 7) for
// the σ samplers lms, euler, euler_a, heun and dpm++2m (diffusers'
// use_karras_sigmas). Call SetTimesteps before the first step.
func New(name string, cfg Config, karras bool) (Scheduler, error) {
	for _, s := range samplers {
		if s.name != name {
			continue
		}
		if karras && !s.karras {
			return nil, fmt.Errorf("scheduler: %s: Karras sigmas apply only to the σ samplers lms, euler, euler_a, heun and dpm++2m", name)
		}
		sched, err := cfg.Schedule()
		if err != nil {
			return nil, fmt.Errorf("scheduler: %s: %w", name, err)
		}
		return s.make(sched, cfg, karras), nil
	}
	return nil, fmt.Errorf("scheduler: unknown sampler %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// base is what every sampler shares: the training schedule, the config, and
// the timesteps of the current inference schedule.
type base struct {
	sched     *Schedule
	cfg       Config
	n         int       // inference steps asked of SetTimesteps
	order     int       // model calls per step in diffusers' get_timesteps (Heun: 2)
	timesteps []float64 // U-Net timestep of each Step call
	x0        []float32 // the x̂₀ estimate Step returns
}

func newBase(s *Schedule, c Config) base { return base{sched: s, cfg: c, order: 1} }

// Timesteps implements [Scheduler].
func (b *base) Timesteps() []float64 { return b.timesteps }

// Schedule returns the training noise schedule (βₜ, αₜ, ᾱₜ).
func (b *base) Schedule() *Schedule { return b.sched }

// Start implements [Scheduler].
func (b *base) Start(strength float64) int {
	init := min(int(float64(b.n)*strength), b.n)
	return min(max(b.n-init, 0)*b.order, len(b.timesteps))
}

// checkN validates a step count.
func (b *base) checkN(n int) error {
	if n < 1 || n > b.cfg.TrainSteps {
		return fmt.Errorf("scheduler: %d inference steps, want 1…%d", n, b.cfg.TrainSteps)
	}
	return nil
}

// checkAlphaN validates the step count of ddpm, ddim and pndm, which index ᾱ
// by timestep: with leading spacing, the first timestep (n−1)·⌊T/n⌋ +
// steps_offset must lie in the training schedule. (SD 1.5's offset of 1
// reaches t = T at n = T, where diffusers fails with an IndexError.)
func (b *base) checkAlphaN(name string, n int) error {
	if err := b.checkN(n); err != nil {
		return err
	}
	T := b.cfg.TrainSteps
	if first := (n-1)*(T/n) + b.cfg.StepsOffset; b.cfg.spacing(Leading) == Leading && first >= T {
		return fmt.Errorf("scheduler: %s: %d inference steps with steps_offset %d start at timestep %d, outside the training schedule [0, %d)", name, n, b.cfg.StepsOffset, first, T)
	}
	return nil
}

// check validates the arguments of Step.
func (b *base) check(i int, modelOutput, sample []float32) error {
	if i < 0 || i >= len(b.timesteps) {
		return fmt.Errorf("scheduler: step %d outside the schedule's %d steps (call SetTimesteps first)", i, len(b.timesteps))
	}
	if len(modelOutput) != len(sample) {
		return fmt.Errorf("scheduler: step %d: model output of %d values for a sample of %d", i, len(modelOutput), len(sample))
	}
	return nil
}

// checkIO validates the arguments of ScaleModelInput and AddNoise; i may be
// len(timesteps), the end of the schedule.
func (b *base) checkIO(i int, dst []float32, src ...[]float32) error {
	if i < 0 || i > len(b.timesteps) {
		return fmt.Errorf("scheduler: step %d outside the schedule's %d steps (call SetTimesteps first)", i, len(b.timesteps))
	}
	return sameLen(dst, src...)
}

// buf returns the x̂₀ buffer sized for n values.
func (b *base) buf(n int) []float32 {
	if len(b.x0) != n {
		b.x0 = make([]float32, n)
	}
	return b.x0
}

// abar returns ᾱₜ, or the value before the first timestep (1 with
// SetAlphaToOne, else ᾱ₀) for t < 0.
func (b *base) abar(t int) float32 {
	if t < 0 {
		if b.cfg.SetAlphaToOne {
			return 1
		}
		return b.sched.AlphasCumprod[0]
	}
	return b.sched.AlphasCumprod[t]
}

// InitNoiseSigma implements [Scheduler]: the ᾱ samplers start from unit noise.
func (b *base) InitNoiseSigma() float64 { return 1 }

// ScaleModelInput implements [Scheduler]: the ᾱ samplers give the model the
// sample unscaled.
func (b *base) ScaleModelInput(i int, dst, sample []float32) error {
	if err := b.checkIO(i, dst, sample); err != nil {
		return err
	}
	copy(dst, sample)
	return nil
}

// AddNoise implements [Scheduler] for the ᾱ samplers:
// √ᾱₜ·x0 + √(1−ᾱₜ)·noise at t = Timesteps()[i] (x0 itself past the end).
func (b *base) AddNoise(i int, dst, x0, noise []float32) error {
	if err := b.checkIO(i, dst, x0, noise); err != nil {
		return err
	}
	if i == len(b.timesteps) {
		copy(dst, x0)
		return nil
	}
	alphaNoise(dst, x0, noise, b.sched.AlphasCumprod[int(b.timesteps[i])])
	return nil
}

// draw fills dst from noise, or reports a stochastic step without a source.
func draw(noise Noise, dst []float32, name string, i int) error {
	if noise == nil {
		return fmt.Errorf("scheduler: %s: step %d needs a noise source, got nil", name, i)
	}
	noise.Normal(dst)
	return nil
}
