package scheduler

// sigmaBase is what the σ samplers (Euler, Euler a, LMS, Heun, DPM-Solver)
// share. They see the latent as x = x₀ + σ·ε, the ᾱ form divided by √ᾱ, with
// σ = √((1−ᾱ)/ᾱ) falling from σ_max = 14.6 (t = 999) to σ_min = 0.029 (t = 0).
// Keeping apart the three pieces sd.cpp and k-diffusion keep apart:
//   - the σ schedule, sigmas[i] for step i, then 0 (set by SetTimesteps);
//   - the σ ↔ t mapping: interpSigma (t → σ) and sigmaToT (σ → t);
//   - the step, in each sampler's file.
type sigmaBase struct {
	base
	karras      bool
	sigmas      []float32 // σ of each step, then the final σ (0); (len(timesteps)+1)
	trainSigmas []float32 // σₜ of each training timestep, (T)
	logSigmas   []float32 // log σₜ, (T)
}

func newSigmaBase(s *Schedule, c Config, karras bool) sigmaBase {
	sig := trainSigmas(s.AlphasCumprod)
	return sigmaBase{base: newBase(s, c), karras: karras, trainSigmas: sig, logSigmas: logs(sig)}
}

// Sigmas returns the noise level σ of each step and a final 0, as float32
// like diffusers' scheduler.sigmas. The caller must not modify it.
func (b *sigmaBase) Sigmas() []float32 { return b.sigmas }

// setSigmas builds the σ schedule of the Euler family (Euler, Euler a, LMS,
// Heun): timesteps by the configured spacing (default linspace), σ
// interpolated at them, or Karras σ between the same end points mapped back
// to fractional timesteps; then a final σ of 0.
func (b *sigmaBase) setSigmas(n int) error {
	if err := b.checkN(n); err != nil {
		return err
	}
	ts := sigmaTimesteps(b.cfg.spacing(Linspace), b.cfg.TrainSteps, n, b.cfg.StepsOffset)
	sig := make([]float64, len(ts))
	for i, t := range ts {
		sig[i] = interpSigma(t, b.trainSigmas)
	}
	if b.karras {
		sig = karrasSigmas(sig[len(sig)-1], sig[0], len(sig))
		for i, s := range sig {
			ts[i] = float64(float32(sigmaToT(s, b.logSigmas)))
		}
	}
	b.n = n
	b.timesteps = ts
	b.sigmas = make([]float32, len(sig)+1)
	for i, s := range sig {
		b.sigmas[i] = float32(s)
	}
	return nil
}

// InitNoiseSigma implements [Scheduler]: σ_max for linspace and trailing
// spacing, √(σ_max²+1) for leading (diffusers' rule).
func (b *sigmaBase) InitNoiseSigma() float64 {
	var m float32
	for _, s := range b.sigmas {
		m = max(m, s)
	}
	if b.cfg.spacing(Linspace) == Leading {
		return float64(sqrt32(m*m + 1))
	}
	return float64(m)
}

// ScaleModelInput implements [Scheduler]: the model was trained on
// x/√(σ²+1), unit variance, so dst = sample/√(σᵢ²+1).
func (b *sigmaBase) ScaleModelInput(i int, dst, sample []float32) error {
	if err := b.checkIO(i, dst, sample); err != nil {
		return err
	}
	s := b.sigmas[i]
	d := sqrt32(s*s + 1)
	for j, x := range sample {
		dst[j] = x / d
	}
	return nil
}

// AddNoise implements [Scheduler] for the Euler family: dst = x0 + σᵢ·noise.
func (b *sigmaBase) AddNoise(i int, dst, x0, noise []float32) error {
	if err := b.checkIO(i, dst, x0, noise); err != nil {
		return err
	}
	s := b.sigmas[i]
	for j := range dst {
		dst[j] = x0[j] + noise[j]*s
	}
	return nil
}

// denoise writes the x̂₀ estimate at noise level σ into x0: for ε-prediction
// x̂₀ = x − σ·ε̂; for v-prediction x̂₀ = −σ/√(σ²+1)·v̂ + x/(σ²+1).
func (b *sigmaBase) denoise(x0, modelOutput, sample []float32, sigma float32) {
	if b.cfg.Prediction == VPrediction {
		s2 := sigma*sigma + 1
		cOut := -sigma / sqrt32(s2)
		for j, m := range modelOutput {
			x0[j] = m*cOut + sample[j]/s2
		}
		return
	}
	for j, m := range modelOutput {
		x0[j] = sample[j] - sigma*m
	}
}
