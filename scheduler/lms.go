package scheduler

import "fmt"

// lmsOrder is the order of LMS's multistep formula (diffusers' default 4).
const lmsOrder = 4

// LMS is the linear multistep method on the probability-flow ODE
// (k-diffusion's sample_lms, diffusers' LMSDiscreteScheduler): it keeps the
// last four slopes dₖ = (xₖ − x̂₀ₖ)/σₖ and integrates the polynomial through
// them over the next σ interval,
//
//	x_{i+1} = x_i + Σ_k c_k·d_{i−k},  c_k = ∫_{σ_i}^{σ_{i+1}} ℓ_k(σ) dσ,
//
// where ℓ_k is the Lagrange basis polynomial that is 1 at σ_{i−k} and 0 at
// the other σs. The order ramps up 1, 2, 3, 4 over the first steps.
type LMS struct {
	sigmaBase
	ds [][]float32 // the last slopes, newest last
	c  []float32   // the coefficients of the current step
}

// SetTimesteps implements [Scheduler].
func (s *LMS) SetTimesteps(n int) error {
	s.ds = s.ds[:0]
	return s.setSigmas(n)
}

// Step implements [Scheduler].
func (s *LMS) Step(i int, modelOutput, sample []float32, _ Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	if len(s.ds) > 0 && len(s.ds[0]) != len(sample) {
		return nil, fmt.Errorf("scheduler: lms: step %d: sample of %d values after %d", i, len(sample), len(s.ds[0]))
	}
	sigma := s.sigmas[i]
	x0 := s.buf(len(sample))
	s.denoise(x0, modelOutput, sample, sigma)

	// Push the slope d_i, recycling the oldest buffer.
	var d []float32
	if len(s.ds) == lmsOrder {
		d = s.ds[0]
		s.ds = append(s.ds[:0], s.ds[1:]...)
	} else {
		d = make([]float32, len(sample))
	}
	for j, x := range sample {
		d[j] = (x - x0[j]) / sigma
	}
	s.ds = append(s.ds, d)

	// diffusers takes the order from the step index, not from the history:
	// after img2img's start, the first steps use fewer slopes than the
	// formula's order (zip stops at the shorter list). Mirrored here.
	order := min(i+1, lmsOrder)
	s.c = s.c[:0]
	for k := 0; k < order && k < len(s.ds); k++ {
		s.c = append(s.c, float32(s.coefficient(order, i, k)))
	}
	for j := range sample {
		var sum float32
		for k, c := range s.c {
			sum += c * s.ds[len(s.ds)-1-k][j] // c_k·d_{i−k}
		}
		sample[j] += sum
	}
	return x0, nil
}

// coefficient is c_k = ∫ ℓ_k(σ) dσ over [σ_i, σ_{i+1}], ℓ_k the Lagrange basis
// polynomial through σ_i, σ_{i−1}, …, σ_{i−order+1} that is 1 at σ_{i−k}.
// ℓ_k has degree order−1 ≤ 3, so 3-point Gauss–Legendre quadrature (exact up
// to degree 5) computes the integral exactly.
func (s *LMS) coefficient(order, i, k int) float64 {
	sig := func(m int) float64 { return float64(s.sigmas[m]) }
	basis := func(tau float64) float64 {
		p := 1.0
		for m := 0; m < order; m++ {
			if m != k {
				p *= (tau - sig(i-m)) / (sig(i-k) - sig(i-m))
			}
		}
		return p
	}
	a, b := sig(i), sig(i+1)
	mid, half := (a+b)/2, (b-a)/2
	const x = 0.7745966692414834 // √(3/5)
	return half * (5.0/9*basis(mid-half*x) + 8.0/9*basis(mid) + 5.0/9*basis(mid+half*x))
}
