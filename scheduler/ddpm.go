package scheduler

// DDPM is the ancestral sampler of Ho et al. 2020 ("Denoising Diffusion
// Probabilistic Models"; diffusers' DDPMScheduler with variance_type
// fixed_small). Between consecutive timesteps t > t' of the inference
// schedule (t' = −1 after the last, with ᾱ₋₁ = 1) it samples the posterior
// q(x_{t'} | xₜ, x̂₀) of the package documentation, with βₜ = 1 − ᾱₜ/ᾱ_{t'}
// for strided schedules:
//
//	x_{t'} = √ᾱ_{t'}·βₜ/(1−ᾱₜ)·x̂₀ + √(1−βₜ)·(1−ᾱ_{t'})/(1−ᾱₜ)·xₜ + σₜ·z,
//	σₜ² = (1−ᾱ_{t'})/(1−ᾱₜ)·βₜ (clamped ≥ 1e-20),  z ~ N(0, I),
//
// drawing z on every step with t > 0. Its [Schedule] is the training
// schedule: [Schedule.AddNoise] is the forward process q(xₜ | x₀) and
// [Schedule.Velocity] the v-prediction target.
type DDPM struct {
	base
	z []float32
}

// SetTimesteps implements [Scheduler]; the default spacing is leading.
func (s *DDPM) SetTimesteps(n int) error {
	if err := s.checkAlphaN("ddpm", n); err != nil {
		return err
	}
	s.n = n
	s.timesteps = alphaTimesteps(s.cfg.spacing(Leading), s.cfg.TrainSteps, n, s.cfg.StepsOffset)
	return nil
}

// Step implements [Scheduler]; it draws one noise tensor from noise when
// Timesteps()[i] > 0.
func (s *DDPM) Step(i int, modelOutput, sample []float32, noise Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	t := int(s.timesteps[i])
	aPrev := float32(1) // ᾱ after the last step (diffusers' self.one)
	if i+1 < len(s.timesteps) {
		aPrev = s.sched.AlphasCumprod[int(s.timesteps[i+1])]
	}
	a := s.sched.AlphasCumprod[t]
	b, bPrev := 1-a, 1-aPrev
	alphaT := a / aPrev // αₜ of the strided step
	betaT := 1 - alphaT

	// 1. x̂₀ from the model's output ("predicted x_0" of formula (15)).
	x0 := s.buf(len(sample))
	predictX0(x0, modelOutput, sample, a, s.cfg.Prediction)

	// 2. The posterior mean µ̃ₜ(xₜ, x̂₀) (formula (7)).
	c0 := sqrt32(aPrev) * betaT / b
	c1 := sqrt32(alphaT) * bPrev / b
	for j, x := range sample {
		sample[j] = c0*x0[j] + c1*x
	}

	// 3. Add σₜ·z.
	if t > 0 {
		if len(s.z) != len(sample) {
			s.z = make([]float32, len(sample))
		}
		if err := draw(noise, s.z, "ddpm", i); err != nil {
			return nil, err
		}
		std := sqrt32(max(bPrev/b*betaT, 1e-20))
		for j, z := range s.z {
			sample[j] += std * z
		}
	}
	return x0, nil
}

// predictX0 writes the x̂₀ of the ᾱ form x = √ᾱ·x₀ + √(1−ᾱ)·ε into x0:
// (x − √(1−ᾱ)·ε̂)/√ᾱ for ε-prediction, √ᾱ·x − √(1−ᾱ)·v̂ for v-prediction.
func predictX0(x0, modelOutput, sample []float32, abar float32, p Prediction) {
	sa, sb := sqrt32(abar), sqrt32(1-abar)
	if p == VPrediction {
		for j, m := range modelOutput {
			x0[j] = sa*sample[j] - sb*m
		}
		return
	}
	for j, m := range modelOutput {
		x0[j] = (sample[j] - sb*m) / sa
	}
}
