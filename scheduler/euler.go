package scheduler

// Euler is the Euler method on the probability-flow ODE of Karras et al.
// 2022 (Algorithm 2 without churn; diffusers' EulerDiscreteScheduler, A1111's
// "Euler"): with the derivative dx/dσ = (x − x̂₀)/σ,
//
//	x_{i+1} = x_i + (σ_{i+1} − σ_i)·(x_i − x̂₀)/σ_i.
//
// The last step (σ_{i+1} = 0) returns x̂₀.
type Euler struct {
	sigmaBase
}

// SetTimesteps implements [Scheduler].
func (s *Euler) SetTimesteps(n int) error { return s.setSigmas(n) }

// Step implements [Scheduler].
func (s *Euler) Step(i int, modelOutput, sample []float32, _ Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	sigma, next := s.sigmas[i], s.sigmas[i+1]
	x0 := s.buf(len(sample))
	s.denoise(x0, modelOutput, sample, sigma)
	dt := next - sigma
	for j, x := range sample {
		d := (x - x0[j]) / sigma // dx/dσ
		sample[j] = x + d*dt
	}
	return x0, nil
}

// EulerAncestral is Euler with ancestral sampling (k-diffusion's
// sample_euler_ancestral, A1111's "Euler a"): each step goes down to
// σ_down < σ_{i+1} deterministically and adds fresh noise back up to σ_{i+1}:
//
//	σ_up   = √(σ_{i+1}²·(σ_i² − σ_{i+1}²)/σ_i²),  σ_down = √(σ_{i+1}² − σ_up²)
//	x_{i+1} = x_i + (σ_down − σ_i)·(x_i − x̂₀)/σ_i + σ_up·z,  z ~ N(0, I).
//
// As in diffusers, z is drawn on every step, the last one (σ_up = 0) too.
type EulerAncestral struct {
	sigmaBase
	z []float32
}

// SetTimesteps implements [Scheduler].
func (s *EulerAncestral) SetTimesteps(n int) error { return s.setSigmas(n) }

// Step implements [Scheduler]; it draws one noise tensor from noise.
func (s *EulerAncestral) Step(i int, modelOutput, sample []float32, noise Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	if len(s.z) != len(sample) {
		s.z = make([]float32, len(sample))
	}
	if err := draw(noise, s.z, "euler_a", i); err != nil {
		return nil, err
	}
	from, to := s.sigmas[i], s.sigmas[i+1]
	up := sqrt32(to * to * (from*from - to*to) / (from * from))
	down := sqrt32(max(to*to-up*up, 0))
	x0 := s.buf(len(sample))
	s.denoise(x0, modelOutput, sample, from)
	dt := down - from
	for j, x := range sample {
		d := (x - x0[j]) / from // dx/dσ
		x += d * dt
		sample[j] = x + s.z[j]*up
	}
	return x0, nil
}
