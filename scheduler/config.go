package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
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

// MaxTrainSteps is the largest num_train_timesteps (Config.TrainSteps) a
// Config may have: [Config.Schedule] allocates tables of that length, and
// Stable Diffusion models have 1000.
const MaxTrainSteps = 100_000

// validate reports the first field that no sampler can work with, naming it
// as Go code does (TrainSteps).
func (c Config) validate() error {
	if field, _, problem := c.problem(); problem != "" {
		return fmt.Errorf("scheduler: config: %s %s", field, problem)
	}
	return nil
}

// problem returns the first field that no sampler can work with: its Go
// name, its scheduler_config.json key and what is wrong with its value ("" if
// nothing is).
func (c Config) problem() (field, key, problem string) {
	switch {
	case c.TrainSteps < 2 || c.TrainSteps > MaxTrainSteps:
		return "TrainSteps", "num_train_timesteps", fmt.Sprintf("= %d, want 2…%d", c.TrainSteps, MaxTrainSteps)
	case !(c.BetaStart > 0 && c.BetaStart < 1): // NaN too
		return "BetaStart", "beta_start", fmt.Sprintf("= %g, want a value in (0, 1)", c.BetaStart)
	case !(c.BetaEnd > 0 && c.BetaEnd < 1):
		return "BetaEnd", "beta_end", fmt.Sprintf("= %g, want a value in (0, 1)", c.BetaEnd)
	case c.BetaSchedule != "scaled_linear" && c.BetaSchedule != "linear":
		return "BetaSchedule", "beta_schedule", fmt.Sprintf("= %q is not supported (want \"scaled_linear\" or \"linear\")", c.BetaSchedule)
	case c.Prediction != Epsilon && c.Prediction != VPrediction:
		return "Prediction", "prediction_type", fmt.Sprintf("= %q is not supported (want %q or %q)", c.Prediction, Epsilon, VPrediction)
	case c.Spacing != DefaultSpacing && c.Spacing != Leading && c.Spacing != Trailing && c.Spacing != Linspace:
		return "Spacing", "timestep_spacing", fmt.Sprintf("= %q is not supported (want %q, %q or %q)", c.Spacing, Leading, Trailing, Linspace)
	case c.StepsOffset < 0 || c.StepsOffset >= c.TrainSteps:
		return "StepsOffset", "steps_offset", fmt.Sprintf("= %d, want 0…%d", c.StepsOffset, c.TrainSteps-1)
	}
	return "", "", ""
}

// rawConfig is scheduler_config.json as diffusers writes it. A nil field was
// absent or null. The first group is read into Config; the second only to
// reject values sdgo does not implement (see unsupported). Other keys are
// ignored.
type rawConfig struct {
	TrainSteps    *int        `json:"num_train_timesteps"`
	BetaStart     *float64    `json:"beta_start"`
	BetaEnd       *float64    `json:"beta_end"`
	BetaSchedule  *string     `json:"beta_schedule"`
	Prediction    *Prediction `json:"prediction_type"`
	Spacing       *Spacing    `json:"timestep_spacing"`
	StepsOffset   *int        `json:"steps_offset"`
	SetAlphaToOne *bool       `json:"set_alpha_to_one"`

	ClassName         *string         `json:"_class_name"`
	TrainedBetas      json.RawMessage `json:"trained_betas"`
	RescaleZeroSNR    *bool           `json:"rescale_betas_zero_snr"`
	ClipSample        *bool           `json:"clip_sample"`
	Thresholding      *bool           `json:"thresholding"`
	VarianceType      *string         `json:"variance_type"`
	TimestepType      *string         `json:"timestep_type"`
	InterpolationType *string         `json:"interpolation_type"`
	FinalSigmasType   *string         `json:"final_sigmas_type"`
	ExponentialSigmas *bool           `json:"use_exponential_sigmas"`
	BetaSigmas        *bool           `json:"use_beta_sigmas"`
	SigmaMin          *float64        `json:"sigma_min"`
	SigmaMax          *float64        `json:"sigma_max"`
	LuLambdas         *bool           `json:"use_lu_lambdas"`
	FlowSigmas        *bool           `json:"use_flow_sigmas"`
	LambdaMinClipped  json.RawMessage `json:"lambda_min_clipped"`
	OriginalSteps     *int            `json:"original_inference_steps"`
	TimestepScaling   *float64        `json:"timestep_scaling"`
}

// unsupported rejects settings that would make diffusers compute something
// sdgo does not — a different training schedule, or a change to the σs,
// timesteps or x̂₀ of a sampler — naming the key. Each may be absent, null or
// diffusers' default.
func (r *rawConfig) unsupported() error {
	bad := func(key string, v any, why string) error {
		if s, ok := v.(string); ok {
			v = strconv.Quote(s)
		}
		return fmt.Errorf("scheduler: config: %s = %v is not supported (%s)", key, v, why)
	}
	is := func(p *bool) bool { return p != nil && *p }
	not := func(p *string, def string) bool { return p != nil && *p != def }
	switch {
	case r.ClassName != nil && strings.HasPrefix(*r.ClassName, "FlowMatch"):
		return bad("_class_name", *r.ClassName, "sdgo samples β-schedule models, not flow matching")
	case len(r.TrainedBetas) > 0 && string(r.TrainedBetas) != "null":
		return errors.New("scheduler: config: trained_betas is not supported (sdgo computes the betas from beta_schedule, beta_start and beta_end; want null)")
	case is(r.RescaleZeroSNR):
		return bad("rescale_betas_zero_snr", true, "sdgo does not rescale the betas to zero terminal SNR")
	case is(r.ClipSample):
		return bad("clip_sample", true, "sdgo does not clamp x̂₀")
	case is(r.Thresholding):
		return bad("thresholding", true, "sdgo does not threshold x̂₀")
	case r.VarianceType != nil && *r.VarianceType != "fixed_small":
		return bad("variance_type", *r.VarianceType, `sdgo's ddpm uses "fixed_small"`)
	case not(r.TimestepType, "discrete"):
		return bad("timestep_type", *r.TimestepType, `sdgo gives the U-Net "discrete" timesteps`)
	case not(r.InterpolationType, "linear"):
		return bad("interpolation_type", *r.InterpolationType, `sdgo interpolates σ "linear"`)
	case not(r.FinalSigmasType, "zero"):
		return bad("final_sigmas_type", *r.FinalSigmasType, `sdgo's last σ is "zero"`)
	case is(r.ExponentialSigmas):
		return bad("use_exponential_sigmas", true, "sdgo has no exponential σs")
	case is(r.BetaSigmas):
		return bad("use_beta_sigmas", true, "sdgo has no beta σs")
	case r.SigmaMin != nil:
		return bad("sigma_min", *r.SigmaMin, "sdgo's σs span the training schedule; want null")
	case r.SigmaMax != nil:
		return bad("sigma_max", *r.SigmaMax, "sdgo's σs span the training schedule; want null")
	case is(r.LuLambdas):
		return bad("use_lu_lambdas", true, "sdgo does not space DPM-Solver's timesteps in log-SNR")
	case is(r.FlowSigmas):
		return bad("use_flow_sigmas", true, "sdgo has no flow-matching σs")
	case r.OriginalSteps != nil && *r.OriginalSteps != lcmOriginalSteps:
		return bad("original_inference_steps", *r.OriginalSteps, fmt.Sprintf("sdgo's lcm uses %d", lcmOriginalSteps))
	case r.TimestepScaling != nil && *r.TimestepScaling != lcmTimeScaling:
		return bad("timestep_scaling", *r.TimestepScaling, fmt.Sprintf("sdgo's lcm uses %g", lcmTimeScaling))
	}
	return lambdaMinClipped(r.LambdaMinClipped)
}

// lambdaMinClipped checks DPM-Solver's lambda_min_clipped: null or −∞ (the
// default, which diffusers writes as Python's -Infinity) is fine; a finite
// value cuts the end of the schedule off, which sdgo does not do.
func lambdaMinClipped(raw json.RawMessage) error {
	s := string(raw)
	if s == "" || s == "null" {
		return nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		s = str // "-Infinity" (see quoteNonFinite) or "-inf"
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return errors.New("scheduler: config: lambda_min_clipped is not a number")
	case !math.IsInf(v, -1):
		return fmt.Errorf("scheduler: config: lambda_min_clipped = %g is not supported (sdgo does not clip DPM-Solver's schedule; want -Infinity)", v)
	}
	return nil
}

// quoteNonFinite puts quotes around the NaN, Infinity and -Infinity that
// Python's json module writes for non-finite floats (diffusers saves every
// DPMSolverMultistepScheduler config with "lambda_min_clipped": -Infinity),
// so that encoding/json reads them as strings. data is returned as is when it
// has none.
func quoteNonFinite(data []byte) []byte {
	var out []byte
	last := 0 // data[:last] is in out
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		for _, lit := range [...]string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(data[i:], []byte(lit)) {
				out = append(out, data[last:i]...)
				out = append(out, '"')
				out = append(out, lit...)
				out = append(out, '"')
				i += len(lit) - 1
				last = i + 1
				break
			}
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// ReadConfig reads a diffusers scheduler/scheduler_config.json over base
// (see ParseConfig). Errors name the file.
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

// ParseConfig parses the contents of a diffusers scheduler_config.json.
//
// The keys named in Config's field comments are read into it. A key that
// data leaves out or sets to null keeps base's value: base is the schedule
// to assume, since diffusers' defaults differ between scheduler classes and
// SD 1.5's config, for one, names no prediction_type. The result is checked
// as [New] checks a Config (num_train_timesteps in 2…[MaxTrainSteps], betas
// in (0, 1), a known beta_schedule, prediction_type and timestep_spacing,
// steps_offset in 0…num_train_timesteps−1).
//
// sdgo runs the sampler its caller names, with Karras σs if asked ([New]),
// not the one the file names, so the keys that choose a sampler in diffusers
// are ignored: _class_name, algorithm_type, solver_order, solver_type,
// skip_prk_steps, use_karras_sigmas. So are keys that change nothing while
// the settings below keep their defaults (clip_sample_range,
// dynamic_thresholding_ratio, sample_max_value, lower_order_final,
// euler_at_final, flow_shift, …).
//
// A setting sdgo does not implement is an error naming the key when it has
// a value other than diffusers' default: trained_betas (want null),
// rescale_betas_zero_snr, clip_sample, thresholding, use_exponential_sigmas,
// use_beta_sigmas, use_lu_lambdas, use_flow_sigmas (want false),
// variance_type "fixed_small", timestep_type "discrete", interpolation_type
// "linear", final_sigmas_type "zero", sigma_min and sigma_max null,
// lambda_min_clipped -Infinity, original_inference_steps 50,
// timestep_scaling 10, and a flow-matching _class_name. Absent, they are
// taken to be off (clip_sample included, although DDPMScheduler and
// DDIMScheduler default it to true: every Stable Diffusion config sets it
// false).
//
// Errors are one line and name the key; bad JSON and values of the wrong
// type are errors too.
func ParseConfig(data []byte, base Config) (Config, error) {
	var r rawConfig
	if err := json.Unmarshal(quoteNonFinite(data), &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return Config{}, fmt.Errorf("scheduler: config: got %s, want a JSON object", te.Value)
			}
			return Config{}, fmt.Errorf("scheduler: config: %s: got %s, want %s", te.Field, te.Value, kindName(te.Type))
		}
		return Config{}, fmt.Errorf("scheduler: config: %w", err)
	}
	if err := r.unsupported(); err != nil {
		return Config{}, err
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
	if _, key, problem := c.problem(); problem != "" {
		return Config{}, fmt.Errorf("scheduler: config: %s %s", key, problem)
	}
	return c, nil
}

// kindName describes the JSON value a Go type takes.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
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
