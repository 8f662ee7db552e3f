package scheduler

import "fmt"

// PNDM is pseudo linear multistep sampling (Liu et al. 2022, "Pseudo
// Numerical Methods for Diffusion Models on Manifolds"; diffusers'
// PNDMScheduler with skip_prk_steps, the default sampler of SD 1.5). It is
// PLMS without the Runge–Kutta warm-up: a linear multistep (Adams–Bashforth)
// combination e of the last ε̂s, moved along the DDIM-like transfer φ of
// formula (9) from t to t' = t − T/n:
//
//	x_{t'} = √(ᾱ_{t'}/ᾱₜ)·xₜ − (ᾱ_{t'} − ᾱₜ)·e / (ᾱₜ·√(1−ᾱ_{t'}) + √(ᾱₜ(1−ᾱₜ)ᾱ_{t'})).
//
// SetTimesteps(n) makes n+1 steps with the second timestep repeated (N=4:
// 751, 501, 501, 251, 1): step 0 moves with its ε̂₀ and remembers the sample;
// step 1 redoes that move from the remembered sample with (ε̂₀+ε̂₁)/2; then
// e = (3e₁−e₂)/2, (23e₁−16e₂+5e₃)/12, (55e₁−59e₂+37e₃−9e₄)/24 over the
// newest ε̂s e₁, e₂, … (ε̂₁ of step 1 is not kept).
type PNDM struct {
	base
	ets     [][]float32 // the last four ε̂s (v̂s), newest last
	cur     []float32   // the sample remembered by the first step
	counter int         // steps taken since SetTimesteps
	e       []float32   // the combination e of this step
}

// SetTimesteps implements [Scheduler]; the default spacing is leading.
func (s *PNDM) SetTimesteps(n int) error {
	if err := s.checkAlphaN("pndm", n); err != nil {
		return err
	}
	T := s.cfg.TrainSteps
	var asc []float64 // the n timesteps, ascending
	switch s.cfg.spacing(Leading) {
	case Linspace:
		asc = roundAll(npLinspace(0, float64(T-1), n))
	case Trailing:
		asc = reversed(alphaTimesteps(Trailing, T, n, 0))
	default:
		asc = reversed(alphaTimesteps(Leading, T, n, s.cfg.StepsOffset))
	}
	// plms = asc[:-1] ++ asc[-2:-1] ++ asc[-1:], reversed.
	plms := append([]float64{}, asc[:n-1]...)
	if n >= 2 {
		plms = append(plms, asc[n-2])
	}
	plms = append(plms, asc[n-1])
	s.n, s.timesteps = n, reversed(plms)
	s.ets, s.cur, s.counter = s.ets[:0], nil, 0
	return nil
}

// Step implements [Scheduler].
func (s *PNDM) Step(i int, modelOutput, sample []float32, _ Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	n := len(sample)
	if len(s.ets) > 0 && len(s.ets[0]) != n {
		return nil, fmt.Errorf("scheduler: pndm: step %d: sample of %d values after %d", i, n, len(s.ets[0]))
	}
	if len(s.e) != n {
		s.e = make([]float32, n)
	}
	t := int(s.timesteps[i])
	stride := s.cfg.TrainSteps / s.n
	prevT := t - stride
	x := sample // the sample the move starts from

	if s.counter != 1 {
		// Push ε̂, keeping at most four.
		var e []float32
		if len(s.ets) == 4 {
			e = s.ets[0]
			s.ets = append(s.ets[:0], s.ets[1:]...)
		} else {
			e = make([]float32, n)
		}
		copy(e, modelOutput)
		s.ets = append(s.ets, e)
	} else {
		// The repeated timestep: redo the move t+stride → t.
		prevT, t = t, t+stride
	}

	e, ets := s.e, s.ets
	k := len(ets)
	switch {
	case k == 1 && s.counter == 0:
		copy(e, modelOutput)
		s.cur = append(s.cur[:0], sample...)
	case k == 1 && s.counter == 1:
		if s.cur == nil {
			return nil, fmt.Errorf("scheduler: pndm: step %d repeats a step that was not taken", i)
		}
		for j, m := range modelOutput {
			e[j] = (m + ets[0][j]) / 2
		}
		x = s.cur
	case k == 2:
		e1, e2 := ets[1], ets[0]
		for j := range e {
			e[j] = (3*e1[j] - e2[j]) / 2
		}
	case k == 3:
		e1, e2, e3 := ets[2], ets[1], ets[0]
		for j := range e {
			e[j] = (23*e1[j] - 16*e2[j] + 5*e3[j]) / 12
		}
	default:
		e1, e2, e3, e4 := ets[3], ets[2], ets[1], ets[0]
		for j := range e {
			e[j] = (1.0 / 24) * (55*e1[j] - 59*e2[j] + 37*e3[j] - 9*e4[j])
		}
	}
	x0 := s.transfer(sample, x, e, t, prevT)
	s.counter++
	return x0, nil
}

// transfer writes φ(x, e, t, t') of formula (9) into dst (dst may be x) and
// returns the x̂₀ estimate that e implies at t.
func (s *PNDM) transfer(dst, x, e []float32, t, prevT int) []float32 {
	a, aPrev := s.sched.AlphasCumprod[t], s.abar(prevT)
	b, bPrev := 1-a, 1-aPrev
	if s.cfg.Prediction == VPrediction { // ε̂ = √ᾱ·v̂ + √(1−ᾱ)·x
		sa, sb := sqrt32(a), sqrt32(b)
		for j, v := range e {
			e[j] = sa*v + sb*x[j]
		}
	}
	x0 := s.buf(len(x))
	predictX0(x0, e, x, a, Epsilon)
	sampleCoeff := sqrt32(aPrev / a)
	denom := a*sqrt32(bPrev) + sqrt32(a*b*aPrev)
	diff := aPrev - a
	for j, xj := range x {
		dst[j] = sampleCoeff*xj - diff*e[j]/denom
	}
	return x0
}
