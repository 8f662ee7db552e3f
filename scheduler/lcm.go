package scheduler

import (
	"fmt"
	"math"
)

// LCM samples a latent consistency model (Luo et al. 2023, "Latent
// Consistency Models"; diffusers' LCMScheduler with original_inference_steps
// 50 and timestep_scaling 10). Each step maps xₜ straight to a clean estimate
// and, except on the last step, noises it again to the next timestep t':
//
//	denoised = c_skip(t)·xₜ + c_out(t)·x̂₀,
//	c_skip = σ_d²/((10t)² + σ_d²),  c_out = 10t/√((10t)² + σ_d²),  σ_d = 0.5,
//	x_{t'} = √ᾱ_{t'}·denoised + √(1−ᾱ_{t'})·z,  z ~ N(0, I).
//
// The timesteps come from the 50-step distillation grid 19, 39, …, 999
// (N=4: 999, 759, 499, 259), so n is at most 50; Config.Spacing does not
// apply. For img2img, [Scheduler.Start] skips steps of this schedule
// (diffusers' LCM img2img pipeline instead re-spaces the grid by strength).
type LCM struct {
	base
	z []float32
}

// LCM's distillation settings (diffusers' LCMScheduler defaults).
const (
	lcmOriginalSteps = 50   // original_inference_steps
	lcmTimeScaling   = 10.0 // timestep_scaling
	lcmSigmaData     = 0.5  // σ_d of the boundary conditions
)

// SetTimesteps implements [Scheduler]: n timesteps picked evenly from the
// distillation grid k−1, 2k−1, …, T−1 with k = T/50.
func (s *LCM) SetTimesteps(n int) error {
	T := s.cfg.TrainSteps
	if T < lcmOriginalSteps {
		return fmt.Errorf("scheduler: lcm: %d training steps, fewer than the %d of its distillation grid", T, lcmOriginalSteps)
	}
	if n < 1 || n > lcmOriginalSteps {
		return fmt.Errorf("scheduler: lcm: %d inference steps, want 1…%d", n, lcmOriginalSteps)
	}
	k := T / lcmOriginalSteps
	// Grid descending: 50k−1, 49k−1, …, k−1; take indices ⌊j·50/n⌋.
	idx := npLinspace(0, lcmOriginalSteps, n+1)[:n] // linspace(0, 50, n, endpoint=False)
	s.timesteps = make([]float64, n)
	for j, x := range idx {
		m := int(math.Floor(x))
		s.timesteps[j] = float64((lcmOriginalSteps-m)*k - 1)
	}
	s.n = n
	return nil
}

// Step implements [Scheduler]; it draws one noise tensor on every step but
// the last. The x̂₀ it returns is "denoised".
func (s *LCM) Step(i int, modelOutput, sample []float32, noise Noise) ([]float32, error) {
	if err := s.check(i, modelOutput, sample); err != nil {
		return nil, err
	}
	n := len(sample)
	t := int(s.timesteps[i])
	prevT := t
	if i+1 < len(s.timesteps) {
		prevT = int(s.timesteps[i+1])
	}
	a, aPrev := s.sched.AlphasCumprod[t], s.abar(prevT)

	// Boundary conditions: c_skip → 1, c_out → 0 as t → 0.
	st := float32(t) * lcmTimeScaling
	cSkip := lcmSigmaData * lcmSigmaData / (st*st + lcmSigmaData*lcmSigmaData)
	cOut := st / sqrt32(st*st+lcmSigmaData*lcmSigmaData)

	den := s.buf(n)
	predictX0(den, modelOutput, sample, a, s.cfg.Prediction)
	for j, x := range sample {
		den[j] = cOut*den[j] + cSkip*x
	}
	if i == len(s.timesteps)-1 {
		copy(sample, den)
		return den, nil
	}
	if len(s.z) != n {
		s.z = make([]float32, n)
	}
	if err := draw(noise, s.z, "lcm", i); err != nil {
		return nil, err
	}
	alphaNoise(sample, den, s.z, aPrev)
	return den, nil
}
