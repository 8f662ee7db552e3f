package scheduler

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Prediction is what the U-Net was trained to predict.
type Prediction string

// The parameterizations of the model's output (diffusers' prediction_type).
const (
	// Epsilon: the model predicts the noise ε that was added (SD 1.x, SD 2.x base).
	Epsilon Prediction = "epsilon"
	// VPrediction: the model predicts v = √ᾱ·ε − √(1−ᾱ)·x₀ (SD 2.x 768-v).
	VPrediction Prediction = "v_prediction"
)

// Spacing is how the inference timesteps are picked from the training
// timesteps (Table 2 of "Common Diffusion Noise Schedules and Sample Steps
// are Flawed", arXiv:2305.08891).
type Spacing string

// The timestep spacings of diffusers' timestep_spacing.
const (
	// DefaultSpacing picks the sampler's own default, as diffusers does when the
	// model's scheduler_config.json names none (SD 1.5's does not):
	// Leading for ddpm, ddim and pndm; Linspace for the σ samplers. (lcm
	// always picks from its distillation grid.)
	DefaultSpacing Spacing = ""
	// Leading: t = i·⌊T/N⌋ + steps_offset (N=4: 751, 501, 251, 1).
	Leading Spacing = "leading"
	// Trailing: t = round(T − i·T/N) − 1 (N=4: 999, 749, 499, 249).
	Trailing Spacing = "trailing"
	// Linspace: t evenly spaced over [0, T−1] (N=4: 999, 666, 333, 0).
	Linspace Spacing = "linspace"
)

// Config is the training noise schedule of a model and the options that
// shape its inference timesteps. Field comments name the diffusers
// scheduler_config.json keys.
type Config struct {
	TrainSteps    int        // num_train_timesteps, T
	BetaStart     float64    // beta_start, β₀
	BetaEnd       float64    // beta_end, β_{T−1}
	BetaSchedule  string     // beta_schedule: "scaled_linear" or "linear"
	Prediction    Prediction // prediction_type
	Spacing       Spacing    // timestep_spacing; DefaultSpacing means the sampler's own
	StepsOffset   int        // steps_offset, added to Leading timesteps
	SetAlphaToOne bool       // set_alpha_to_one: ᾱ before the first timestep is 1 (else ᾱ₀)
}

// SD15 is the schedule of Stable Diffusion 1.5
// (runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json):
// 1000 steps, scaled_linear betas 0.00085…0.012, ε-prediction, steps_offset 1,
// set_alpha_to_one false. SD 2.x base (512 px) uses the same schedule.
func SD15() Config {
	return Config{
		TrainSteps:   1000,
		BetaStart:    0.00085,
		BetaEnd:      0.012,
		BetaSchedule: "scaled_linear",
		Prediction:   Epsilon,
		StepsOffset:  1,
	}
}

// SD21 is the schedule of Stable Diffusion 2.1 768-v
// (stabilityai/stable-diffusion-2-1 scheduler/scheduler_config.json): SD 1.5's
// schedule with v-prediction.
func SD21() Config {
	c := SD15()
	c.Prediction = VPrediction
	return c
}

// validate reports the first field that no sampler can work with.
func (c Config) validate() error {
	switch {
	case c.TrainSteps < 2:
		return fmt.Errorf("scheduler: config: TrainSteps %d, want at least 2", c.TrainSteps)
	case c.BetaStart <= 0 || c.BetaEnd <= 0 || c.BetaStart >= 1 || c.BetaEnd >= 1:
		return fmt.Errorf("scheduler: config: betas %g…%g, want both in (0, 1)", c.BetaStart, c.BetaEnd)
	case c.BetaSchedule != "scaled_linear" && c.BetaSchedule != "linear":
		return fmt.Errorf("scheduler: config: unknown BetaSchedule %q (want \"scaled_linear\" or \"linear\")", c.BetaSchedule)
	case c.Prediction != Epsilon && c.Prediction != VPrediction:
		return fmt.Errorf("scheduler: config: unknown Prediction %q (want %q or %q)", c.Prediction, Epsilon, VPrediction)
	case c.Spacing != DefaultSpacing && c.Spacing != Leading && c.Spacing != Trailing && c.Spacing != Linspace:
		return fmt.Errorf("scheduler: config: unknown Spacing %q (want %q, %q or %q)", c.Spacing, Leading, Trailing, Linspace)
	case c.StepsOffset < 0:
		return fmt.Errorf("scheduler: config: negative StepsOffset %d", c.StepsOffset)
	}
	return nil
}

// rawConfig is scheduler_config.json as diffusers writes it. A nil field was
// absent or null; keys sdgo does not use (_class_name, clip_sample,
// skip_prk_steps, …) are ignored.
type rawConfig struct {
	TrainSteps    *int        `json:"num_train_timesteps"`
	BetaStart     *float64    `json:"beta_start"`
	BetaEnd       *float64    `json:"beta_end"`
	BetaSchedule  *string     `json:"beta_schedule"`
	Prediction    *Prediction `json:"prediction_type"`
	Spacing       *Spacing    `json:"timestep_spacing"`
	StepsOffset   *int        `json:"steps_offset"`
	SetAlphaToOne *bool       `json:"set_alpha_to_one"`
}

// ReadConfig reads a diffusers scheduler/scheduler_config.json over base
// (see ParseConfig).
func ReadConfig(path string, base Config) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("scheduler: %w", err)
	}
	c, err := ParseConfig(data, base)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the contents of a diffusers scheduler_config.json (the
// keys are named in Config's field comments). A key that data leaves out or
// sets to null keeps base's value: base is the schedule to assume, since
// diffusers' defaults differ between scheduler classes and SD 1.5's config,
// for one, names no prediction_type. The result is checked as [New] checks a
// Config: num_train_timesteps below 2, betas outside (0, 1), an unknown
// beta_schedule, prediction_type or timestep_spacing, or a negative
// steps_offset is an error naming the field.
func ParseConfig(data []byte, base Config) (Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return Config{}, fmt.Errorf("scheduler: config: %w", err)
	}
	c := base
	set(&c.TrainSteps, r.TrainSteps)
	set(&c.BetaStart, r.BetaStart)
	set(&c.BetaEnd, r.BetaEnd)
	set(&c.BetaSchedule, r.BetaSchedule)
	set(&c.Prediction, r.Prediction)
	set(&c.Spacing, r.Spacing)
	set(&c.StepsOffset, r.StepsOffset)
	set(&c.SetAlphaToOne, r.SetAlphaToOne)
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// set stores *v in dst when v is not nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// spacing returns the configured spacing, or def when the config names none.
func (c Config) spacing(def Spacing) Spacing {
	if c.Spacing == DefaultSpacing {
		return def
	}
	return c.Spacing
}

// Schedule is the training noise schedule: for each training timestep t in
// [0, T), the variance βₜ of the noise added at that step, αₜ = 1 − βₜ, and
// ᾱₜ = α₀·α₁·…·αₜ. All three are float32, computed exactly as torch computes
// them in diffusers, so they match the reference bit for bit.
type Schedule struct {
	Betas         []float32 // βₜ, (T)
	Alphas        []float32 // αₜ = 1 − βₜ, (T)
	AlphasCumprod []float32 // ᾱₜ = ∏_{s≤t} αₛ, (T)
}

// Schedule computes the training schedule of c.
func (c Config) Schedule() (*Schedule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	var betas []float32
	switch c.BetaSchedule { // validate allows these two only
	case "scaled_linear":
		// torch.linspace(β₀^½, β₁^½, T, dtype=float32) ** 2
		betas = linspace32(float32(math.Sqrt(c.BetaStart)), float32(math.Sqrt(c.BetaEnd)), c.TrainSteps)
		for i, b := range betas {
			betas[i] = b * b
		}
	case "linear":
		betas = linspace32(float32(c.BetaStart), float32(c.BetaEnd), c.TrainSteps)
	}
	s := &Schedule{
		Betas:         betas,
		Alphas:        make([]float32, len(betas)),
		AlphasCumprod: make([]float32, len(betas)),
	}
	prod := 1.0 // torch's CPU cumprod accumulates in float64
	for t, b := range betas {
		s.Alphas[t] = 1 - b
		prod *= float64(s.Alphas[t])
		s.AlphasCumprod[t] = float32(prod)
	}
	return s, nil
}

// linspace32 returns n float32 values from start to end as torch.linspace
// computes them on the CPU: the step is (end−start)/(n−1) in float32; the
// first half counts up from start and the second half down from end, in
// blocks of 8 lanes whose base is computed once (base + k·step, with fused
// multiply-adds). A plain start + i·step differs in the last bit for a
// quarter of SD's betas.
func linspace32(start, end float32, n int) []float32 {
	out := make([]float32, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(n-1)
	const lanes = 8
	for i := range out {
		b := i - i%lanes // first index of i's block
		var base float32
		if b < n/2 {
			base = fma32(step, float32(b), start)
		} else {
			base = fma32(-step, float32(n-1-b), end)
		}
		out[i] = fma32(float32(i-b), step, base)
	}
	return out
}

// fma32 is a·b + c with one rounding, as the compiled torch kernels compute it.
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// checkT reports a training timestep outside the schedule.
func (s *Schedule) checkT(t int) error {
	if t < 0 || t >= len(s.AlphasCumprod) {
		return fmt.Errorf("scheduler: timestep %d outside the training schedule [0, %d)", t, len(s.AlphasCumprod))
	}
	return nil
}

// AddNoise is the forward process q(xₜ | x₀) at training timestep t: it
// writes xₜ = √ᾱₜ·x₀ + √(1−ᾱₜ)·ε into dst (diffusers' add_noise). dst may be
// x0 or noise; all three have the latent's length.
func (s *Schedule) AddNoise(dst, x0, noise []float32, t int) error {
	if err := s.checkT(t); err != nil {
		return err
	}
	if err := sameLen(dst, x0, noise); err != nil {
		return err
	}
	alphaNoise(dst, x0, noise, s.AlphasCumprod[t])
	return nil
}

// Velocity writes the v-prediction training target
// v = √ᾱₜ·ε − √(1−ᾱₜ)·x₀ at training timestep t into dst (diffusers'
// get_velocity).
func (s *Schedule) Velocity(dst, x0, noise []float32, t int) error {
	if err := s.checkT(t); err != nil {
		return err
	}
	if err := sameLen(dst, x0, noise); err != nil {
		return err
	}
	a := s.AlphasCumprod[t]
	sa, sb := sqrt32(a), sqrt32(1-a)
	for j := range dst {
		dst[j] = sa*noise[j] - sb*x0[j]
	}
	return nil
}

// alphaNoise writes √ā·x0 + √(1−ā)·noise into dst.
func alphaNoise(dst, x0, noise []float32, abar float32) {
	sa, sb := sqrt32(abar), sqrt32(1-abar)
	for j := range dst {
		dst[j] = sa*x0[j] + sb*noise[j]
	}
}

// sqrt32 is a correctly rounded float32 square root.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// sameLen reports slices of different lengths.
func sameLen(a []float32, more ...[]float32) error {
	for _, b := range more {
		if len(b) != len(a) {
			return fmt.Errorf("scheduler: tensors of %d and %d values, want equal lengths", len(a), len(b))
		}
	}
	return nil
}
