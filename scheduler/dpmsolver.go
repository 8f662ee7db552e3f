package scheduler

import "math"

// DPMSolver is DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver
// for Guided Sampling of Diffusion Probabilistic Models", Algorithm 2;
// diffusers' DPMSolverMultistepScheduler with algorithm_type dpmsolver++,
// solver_order 2, solver_type midpoint, final_sigmas_type zero; A1111's
// "DPM++ 2M", "DPM++ 2M Karras" with Karras σs).
//
// It works on the ᾱ form x = αₜ·x₀ + σₜ·ε with αₜ = 1/√(σ²+1), σₜ = σ·αₜ
// (σ the Euler family's noise level), so the first latent is unit noise and
// the model input is not scaled. With λ = log(αₜ/σₜ), h = λ_{i+1} − λ_i and
// D the x̂₀ estimates,
//
//	x_{i+1} = (σ_{i+1}/σ_i)·x_i − α_{i+1}·(e^{−h} − 1)·D,
//	D = x̂₀_i                                     (first order)
//	D = x̂₀_i + (x̂₀_i − x̂₀_{i−1})/(2r),  r = h_{i−1}/h    (second order).
//
// The first step has no history and the last one (to σ = 0, where it
// returns x̂₀) is always first order.
type DPMSolver struct {
	sigmaBase
	prev  []float32 // x̂₀ of the previous step
	taken int       // steps taken since SetTimesteps (diffusers' lower_order_nums, capped at 2)
}

// SetTimesteps implements [Scheduler]: n timesteps spaced (default linspace)
// over n+1 points with t = 0 dropped, σ interpolated at them; or n Karras σs
// over the whole training range [σ₀, σ_{T−1}] mapped back to rounded
// timesteps. Then a final σ of 0.
func (s *DPMSolver) SetTimesteps(n int) error {
	if err := s.checkN(n); err != nil {
		return err
	}
	T := s.cfg.TrainSteps
	var ts, sig []float64
	if s.karras {
		sig = karrasSigmas(float64(s.trainSigmas[0]), float64(s.trainSigmas[T-1]), n)
		ts = make([]float64, n)
		for i, σ := range sig {
			ts[i] = math.RoundToEven(sigmaToT(σ, s.logSigmas))
		}
	} else {
		ts = dpmTimesteps(s.cfg.spacing(Linspace), T, n, s.cfg.StepsOffset)
		sig = make([]float64, n)
		for i, t := range ts {
			sig[i] = interpSigma(t, s.trainSigmas)
		}
	}
	s.n, s.timesteps = n, ts
	s.sigmas = make([]float32, n+1)
	for i, σ := range sig {
		s.sigmas[i] = float32(σ)
	}
	s.taken = 0
	return nil
}

// InitNoiseSigma implements [Scheduler]: DPM-Solver starts from unit noise.
func (s *DPMSolver) InitNoiseSigma() float64 { return 1 }

// ScaleModelInput implements [Scheduler]: the sample is the model input.
func (s *DPMSolver) ScaleModelInput(i int, dst, sample []float32) error {
	return s.base.ScaleModelInput(i, dst, sample)
}

// AddNoise implements [Scheduler]: dst = αᵢ·x0 + σᵢ·αᵢ·noise.
func (s *DPMSolver) AddNoise(i int, dst, x0, noise []float32) error {
	if err := s.checkIO(i, dst, x0, noise); err != nil {
		return err
	}
	a, st := alphaSigma(s.sigmas[i])
	for j := range dst {
		dst[j] = a*x0[j] + st*noise[j]
	}
	return nil
}

// alphaSigma maps σ to (αₜ, σₜ) = (1/√(σ²+1), σ/√(σ²+1)).
func alphaSigma(sigma float32) (alpha, sigmaT float32) {
	alpha = 1 / sqrt32(sigma*sigma+1)
	return alpha, sigma * alpha
}

// lambda is λ = log αₜ − log σₜ (+∞ at σ = 0).
func lambda(alpha, sigmaT float32) float32 {
	return float32(math.Log(float64(alpha))) - float32(math.Log(float64(sigmaT)))
}

// Step implements [Scheduler].
func (s *DPMSolver) Step(i int, modelOutput, sample []float32, _ Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	n := len(sample)
	// x̂₀ from the model's output at σ_i (diffusers' convert_model_output).
	aS, sS := alphaSigma(s.sigmas[i])
	x0 := s.buf(n)
	if s.cfg.Prediction == VPrediction {
		for j, m := range modelOutput {
			x0[j] = aS*sample[j] - sS*m
		}
	} else {
		for j, m := range modelOutput {
			x0[j] = (sample[j] - sS*m) / aS
		}
	}

	aT, sT := alphaSigma(s.sigmas[i+1])
	h := lambda(aT, sT) - lambda(aS, sS)
	ratio := sT / sS
	c := aT * (float32(math.Exp(-float64(h))) - 1) // α_{i+1}·(e^{−h} − 1)
	last := i == len(s.timesteps)-1
	if s.taken < 1 || last || len(s.prev) != n {
		for j, x := range sample {
			sample[j] = ratio*x - c*x0[j]
		}
	} else {
		a1, s1 := alphaSigma(s.sigmas[i-1])
		h0 := lambda(aS, sS) - lambda(a1, s1)
		r0 := h0 / h
		for j, x := range sample {
			d1 := (1 / r0) * (x0[j] - s.prev[j])
			sample[j] = ratio*x - c*x0[j] - 0.5*c*d1
		}
	}
	if len(s.prev) != n {
		s.prev = make([]float32, n)
	}
	copy(s.prev, x0)
	s.taken = min(s.taken+1, 2)
	return x0, nil
}
