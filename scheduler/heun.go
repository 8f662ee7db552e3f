package scheduler

import "fmt"

// Heun is Heun's second-order method on the probability-flow ODE (Karras et
// al. 2022, Algorithm 1 without churn; diffusers' HeunDiscreteScheduler).
// Each σ interval takes two model calls, so SetTimesteps(n) makes 2n−1 steps
// with interleaved timesteps (N=4: 999, 666, 666, 333, 333, 0, 0) and σs
// (σ₀, σ₁, σ₁, σ₂, σ₂, σ₃, σ₃, 0). An even step i is an Euler predictor from
// σ_i to σ_{i+1}; the odd step after it evaluates the model there and
// corrects with the mean of both slopes:
//
//	d₁ = (x − x̂₀(x, σ))/σ,  x' = x + (σ' − σ)·d₁                 (step i, even)
//	d₂ = (x' − x̂₀(x', σ'))/σ',  x ← x + (σ' − σ)·(d₁ + d₂)/2        (step i+1)
//
// The last interval, down to σ = 0, takes the predictor only.
type Heun struct {
	sigmaBase
	d1     []float32 // slope d₁ of the last predictor step
	x      []float32 // sample before the last predictor step
	dt     float32   // σ' − σ of the last predictor step
	pended int       // the predictor step awaiting its corrector, or −1
}

// SetTimesteps implements [Scheduler].
func (s *Heun) SetTimesteps(n int) error {
	if err := s.setSigmas(n); err != nil {
		return err
	}
	// Interleave: σ₀, σ₁, σ₁, …, σ_{n−1}, σ_{n−1}, 0 and t₀, t₁, t₁, …
	ts, sig := s.timesteps, s.sigmas
	s.timesteps = []float64{ts[0]}
	s.sigmas = []float32{sig[0]}
	for k := 1; k < len(ts); k++ {
		s.timesteps = append(s.timesteps, ts[k], ts[k])
		s.sigmas = append(s.sigmas, sig[k], sig[k])
	}
	s.sigmas = append(s.sigmas, 0)
	s.order = 2
	s.pended = -1
	return nil
}

// Step implements [Scheduler].
func (s *Heun) Step(i int, modelOutput, sample []float32, _ Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	n := len(sample)
	x0 := s.buf(n)
	if i%2 == 0 { // predictor: Euler from σ_i to σ_{i+1}
		sigma, next := s.sigmas[i], s.sigmas[i+1]
		s.denoise(x0, modelOutput, sample, sigma)
		if len(s.d1) != n {
			s.d1, s.x = make([]float32, n), make([]float32, n)
		}
		copy(s.x, sample)
		s.dt = next - sigma
		for j, x := range sample {
			s.d1[j] = (x - x0[j]) / sigma
			sample[j] = x + s.d1[j]*s.dt
		}
		s.pended = i
		return x0, nil
	}
	// corrector: the model's output at σ_{i} = σ' of the predictor.
	if s.pended != i-1 || len(s.d1) != n {
		return nil, fmt.Errorf("scheduler: heun: corrector step %d without its predictor step %d", i, i-1)
	}
	next := s.sigmas[i]
	s.denoise(x0, modelOutput, sample, next)
	for j, x := range sample {
		d2 := (x - x0[j]) / next
		d := (s.d1[j] + d2) / 2
		sample[j] = s.x[j] + d*s.dt
	}
	s.pended = -1
	return x0, nil
}
