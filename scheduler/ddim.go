package scheduler

// DDIM is the sampler of Song et al. 2021 ("Denoising Diffusion Implicit
// Models", formula (12); diffusers' DDIMScheduler). From timestep t it goes
// to t' = t − T/n (ᾱ_{t'} = ᾱ₀, or 1 with SetAlphaToOne, when t' < 0):
//
//	x_{t'} = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'} − σₜ²)·ε̂ + σₜ·z,
//	σₜ = η·√((1−ᾱ_{t'})/(1−ᾱₜ)·(1 − ᾱₜ/ᾱ_{t'})).
//
// With Eta = 0 (the default, and the name "ddim") it is deterministic; Eta = 1
// makes it DDPM-like and draws z ~ N(0, I) on every step.
type DDIM struct {
	base
	Eta float32 // η ∈ [0, 1], the stochasticity
	eps []float32
	z   []float32
}

// SetTimesteps implements [Scheduler]; the default spacing is leading.
func (s *DDIM) SetTimesteps(n int) error {
	if err := s.checkAlphaN("ddim", n); err != nil {
		return err
	}
	s.n = n
	s.timesteps = alphaTimesteps(s.cfg.spacing(Leading), s.cfg.TrainSteps, n, s.cfg.StepsOffset)
	return nil
}

// Step implements [Scheduler]; with Eta > 0 it draws one noise tensor.
func (s *DDIM) Step(i int, modelOutput, sample []float32, noise Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	n := len(sample)
	t := int(s.timesteps[i])
	a := s.sched.AlphasCumprod[t]
	aPrev := s.abar(t - s.cfg.TrainSteps/s.n)
	b, bPrev := 1-a, 1-aPrev

	// 1. x̂₀ and ε̂ from the model's output.
	x0 := s.buf(n)
	if len(s.eps) != n {
		s.eps = make([]float32, n)
	}
	sa, sb := sqrt32(a), sqrt32(b)
	if s.cfg.Prediction == VPrediction {
		for j, m := range modelOutput {
			x0[j] = sa*sample[j] - sb*m
			s.eps[j] = sa*m + sb*sample[j]
		}
	} else {
		for j, m := range modelOutput {
			x0[j] = (sample[j] - sb*m) / sa
		}
		copy(s.eps, modelOutput)
	}

	// 2. σₜ and formula (12).
	variance := (bPrev / b) * (1 - a/aPrev)
	std := s.Eta * sqrt32(variance)
	cDir := sqrt32(max(1-aPrev-std*std, 0))
	cX0 := sqrt32(aPrev)
	for j := range sample {
		sample[j] = cX0*x0[j] + cDir*s.eps[j]
	}
	if s.Eta > 0 {
		if len(s.z) != n {
			s.z = make([]float32, n)
		}
		if err := draw(noise, s.z, "ddim", i); err != nil {
			return nil, err
		}
		for j, z := range s.z {
			sample[j] += std * z
		}
	}
	return x0, nil
}
