package scheduler

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// The scheduler/scheduler_config.json files of
// runwayml/stable-diffusion-v1-5 and stabilityai/stable-diffusion-2-1.
const (
	sd15JSON = `{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}`
	sd21JSON = `{
  "_class_name": "DDIMScheduler",
  "_diffusers_version": "0.8.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "v_prediction",
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null
}`
	// DPM++ 2M Karras as diffusers 0.35 saves it: Python's json writes the
	// default lambda_min_clipped as -Infinity, which is not JSON.
	dpmJSON = `{
  "_class_name": "DPMSolverMultistepScheduler",
  "_diffusers_version": "0.35.2",
  "algorithm_type": "dpmsolver++",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "dynamic_thresholding_ratio": 0.995,
  "euler_at_final": false,
  "final_sigmas_type": "zero",
  "flow_shift": 1.0,
  "lambda_min_clipped": -Infinity,
  "lower_order_final": true,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "rescale_betas_zero_snr": false,
  "sample_max_value": 1.0,
  "solver_order": 2,
  "solver_type": "midpoint",
  "steps_offset": 1,
  "thresholding": false,
  "time_shift_type": "exponential",
  "timestep_spacing": "linspace",
  "trained_betas": null,
  "use_beta_sigmas": false,
  "use_dynamic_shifting": false,
  "use_exponential_sigmas": false,
  "use_flow_sigmas": false,
  "use_karras_sigmas": true,
  "use_lu_lambdas": false,
  "variance_type": null
}`
	// EulerDiscreteScheduler and LCMScheduler with every key diffusers 0.35 saves.
	eulerJSON = `{"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
  "beta_start": 0.00085, "final_sigmas_type": "zero", "interpolation_type": "linear", "num_train_timesteps": 1000,
  "prediction_type": "v_prediction", "rescale_betas_zero_snr": false, "sigma_max": null, "sigma_min": null,
  "steps_offset": 1, "timestep_spacing": "trailing", "timestep_type": "discrete", "trained_betas": null,
  "use_beta_sigmas": false, "use_exponential_sigmas": false, "use_karras_sigmas": false}`
	lcmJSON = `{"_class_name": "LCMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
  "clip_sample": false, "clip_sample_range": 1.0, "dynamic_thresholding_ratio": 0.995, "num_train_timesteps": 1000,
  "original_inference_steps": 50, "prediction_type": "epsilon", "rescale_betas_zero_snr": false,
  "sample_max_value": 1.0, "set_alpha_to_one": true, "steps_offset": 1, "thresholding": false,
  "timestep_scaling": 10.0, "timestep_spacing": "leading", "trained_betas": null}`
)

func TestParseConfig(t *testing.T) {
	with := func(c Config, f func(*Config)) Config { f(&c); return c }
	for _, tc := range []struct {
		name string
		json string
		base Config
		want Config
	}{
		{"sd15", sd15JSON, SD15(), SD15()},
		{"sd21 over sd15", sd21JSON, SD15(), SD21()},
		{"sd15 over sd21 keeps v", sd15JSON, SD21(), SD21()},
		{"empty keeps base", `{}`, SD21(), SD21()},
		{"nulls keep base", `{"num_train_timesteps": null, "prediction_type": null, "timestep_spacing": null}`, SD21(), SD21()},
		{"every field", `{"num_train_timesteps": 500, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
			"prediction_type": "epsilon", "timestep_spacing": "trailing", "steps_offset": 0, "set_alpha_to_one": true}`, SD21(),
			Config{TrainSteps: 500, BetaStart: 0.0001, BetaEnd: 0.02, BetaSchedule: "linear", Prediction: Epsilon,
				Spacing: Trailing, SetAlphaToOne: true}},
		{"spacing", `{"timestep_spacing": "linspace"}`, SD15(), with(SD15(), func(c *Config) { c.Spacing = Linspace })},
		{"dpm++ 2m karras", dpmJSON, SD21(), with(SD15(), func(c *Config) { c.Spacing = Linspace })},
		{"euler", eulerJSON, SD15(), with(SD21(), func(c *Config) { c.Spacing = Trailing })},
		{"lcm", lcmJSON, SD15(), with(SD15(), func(c *Config) { c.Spacing = Leading; c.SetAlphaToOne = true })},
		{"sampler choice ignored", `{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh2", "algorithm_type": "sde-dpmsolver++",
			"solver_order": 3, "skip_prk_steps": false, "use_karras_sigmas": true, "predict_x0": true}`, SD15(), SD15()},
		{"irrelevant keys", `{"clip_sample": false, "clip_sample_range": 2.5, "thresholding": false, "sample_max_value": 3,
			"dynamic_thresholding_ratio": 0.9, "lower_order_final": false, "euler_at_final": true, "flow_shift": 3.0}`, SD15(), SD15()},
		{"defaults spelled out", `{"trained_betas": null, "rescale_betas_zero_snr": false, "variance_type": "fixed_small",
			"timestep_type": "discrete", "interpolation_type": "linear", "final_sigmas_type": "zero", "use_exponential_sigmas": false,
			"use_beta_sigmas": false, "use_lu_lambdas": false, "use_flow_sigmas": false, "sigma_min": null, "sigma_max": null,
			"lambda_min_clipped": null, "original_inference_steps": 50, "timestep_scaling": 10}`, SD15(), SD15()},
		{"lambda -inf as string", `{"lambda_min_clipped": "-inf"}`, SD15(), SD15()},
		{"lambda -1e400", `{"lambda_min_clipped": -1e400}`, SD15(), SD15()},
		{"non-finite in ignored keys", `{"sample_max_value": Infinity, "flow_shift": NaN, "_x": "NaN \" -Infinity"}`, SD15(), SD15()},
		{"largest", `{"num_train_timesteps": 100000, "steps_offset": 99999}`, SD15(),
			with(SD15(), func(c *Config) { c.TrainSteps, c.StepsOffset = MaxTrainSteps, MaxTrainSteps-1 })},
	} {
		got, err := ParseConfig([]byte(tc.json), tc.base)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestParseConfigErrors checks that bad JSON, wrong types, values no sampler
// can use and settings sdgo does not implement are one-line errors naming
// the JSON key, never a panic.
func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       string // in the error
	}{
		{"empty", ``, "unexpected end of JSON input"},
		{"truncated", `{"beta_start": 0.00085`, "unexpected end of JSON input"},
		{"not an object", `[1000]`, "got array, want a JSON object"},
		{"trailing text", `{} {}`, "invalid character"},
		{"bare word", `{"beta_start": Inf}`, "invalid character"},

		// Values of the wrong type.
		{"steps as string", `{"num_train_timesteps": "1000"}`, "num_train_timesteps: got string, want an integer"},
		{"steps as fraction", `{"num_train_timesteps": 999.5}`, "num_train_timesteps: got number 999.5, want an integer"},
		{"steps too large for int", `{"num_train_timesteps": 1e30}`, "num_train_timesteps: got number 1e30, want an integer"},
		{"beta as string", `{"beta_start": "0.00085"}`, "beta_start: got string, want a number"},
		{"beta overflows", `{"beta_end": 1e400}`, "beta_end: got number 1e400, want a number"},
		{"beta NaN", `{"beta_end": NaN}`, "beta_end: got string, want a number"},
		{"beta infinite", `{"beta_start": -Infinity}`, "beta_start: got string, want a number"},
		{"schedule as number", `{"beta_schedule": 1}`, "beta_schedule: got number, want a string"},
		{"prediction as list", `{"prediction_type": ["epsilon"]}`, "prediction_type: got array, want a string"},
		{"offset as bool", `{"steps_offset": true}`, "steps_offset: got bool, want an integer"},
		{"alpha as string", `{"set_alpha_to_one": "false"}`, "set_alpha_to_one: got string, want true or false"},
		{"clip as string", `{"clip_sample": "false"}`, "clip_sample: got string, want true or false"},
		{"lambda as bool", `{"lambda_min_clipped": true}`, "lambda_min_clipped is not a number"},

		// Values no sampler can use, named by their key.
		{"zero steps", `{"num_train_timesteps": 0}`, "num_train_timesteps = 0, want 2…100000"},
		{"negative steps", `{"num_train_timesteps": -1000}`, "num_train_timesteps = -1000, want 2…100000"},
		{"one step", `{"num_train_timesteps": 1}`, "num_train_timesteps = 1, want 2…100000"},
		{"too many steps", `{"num_train_timesteps": 100001}`, "num_train_timesteps = 100001, want 2…100000"},
		{"huge steps", `{"num_train_timesteps": 9000000000000000000}`, "num_train_timesteps = 9000000000000000000, want 2…100000"},
		{"zero beta", `{"beta_start": 0}`, "beta_start = 0, want a value in (0, 1)"},
		{"beta of one", `{"beta_end": 1}`, "beta_end = 1, want a value in (0, 1)"},
		{"negative beta", `{"beta_start": -0.1}`, "beta_start = -0.1, want a value in (0, 1)"},
		{"cosine schedule", `{"beta_schedule": "squaredcos_cap_v2"}`, `beta_schedule = "squaredcos_cap_v2" is not supported`},
		{"empty schedule", `{"beta_schedule": ""}`, `beta_schedule = "" is not supported`},
		{"sample prediction", `{"prediction_type": "sample"}`, `prediction_type = "sample" is not supported`},
		{"unknown spacing", `{"timestep_spacing": "uniform"}`, `timestep_spacing = "uniform" is not supported`},
		{"negative offset", `{"steps_offset": -1}`, "steps_offset = -1, want 0…999"},
		{"offset past the schedule", `{"steps_offset": 1000}`, "steps_offset = 1000, want 0…999"},
		{"offset past a short schedule", `{"num_train_timesteps": 10, "steps_offset": 10}`, "steps_offset = 10, want 0…9"},

		// Settings sdgo does not implement, named by their key.
		{"trained betas", `{"trained_betas": [0.1, 0.2]}`, "trained_betas is not supported"},
		{"empty trained betas", `{"trained_betas": []}`, "trained_betas is not supported"},
		{"trained betas as text", `{"trained_betas": "0.1"}`, "trained_betas is not supported"},
		{"zero snr", `{"rescale_betas_zero_snr": true}`, "rescale_betas_zero_snr = true is not supported"},
		{"clip sample", `{"clip_sample": true}`, "clip_sample = true is not supported"},
		{"thresholding", `{"thresholding": true, "sample_max_value": 1.5}`, "thresholding = true is not supported"},
		{"ddpm variance", `{"variance_type": "fixed_large"}`, `variance_type = "fixed_large" is not supported`},
		{"learned variance", `{"variance_type": "learned_range"}`, `variance_type = "learned_range" is not supported`},
		{"continuous timesteps", `{"timestep_type": "continuous"}`, `timestep_type = "continuous" is not supported`},
		{"log-linear sigmas", `{"interpolation_type": "log_linear"}`, `interpolation_type = "log_linear" is not supported`},
		{"final sigma", `{"final_sigmas_type": "sigma_min"}`, `final_sigmas_type = "sigma_min" is not supported`},
		{"exponential sigmas", `{"use_exponential_sigmas": true}`, "use_exponential_sigmas = true is not supported"},
		{"beta sigmas", `{"use_beta_sigmas": true}`, "use_beta_sigmas = true is not supported"},
		{"sigma min", `{"sigma_min": 0.002}`, "sigma_min = 0.002 is not supported"},
		{"sigma max", `{"sigma_max": 80}`, "sigma_max = 80 is not supported"},
		{"lu lambdas", `{"use_lu_lambdas": true}`, "use_lu_lambdas = true is not supported"},
		{"flow sigmas", `{"use_flow_sigmas": true}`, "use_flow_sigmas = true is not supported"},
		{"flow matching", `{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}`,
			`_class_name = "FlowMatchEulerDiscreteScheduler" is not supported`},
		{"lambda clipped", `{"lambda_min_clipped": -5.1}`, "lambda_min_clipped = -5.1 is not supported"},
		{"lambda +inf", `{"lambda_min_clipped": Infinity}`, "lambda_min_clipped = +Inf is not supported"},
		{"lambda NaN", `{"lambda_min_clipped": NaN}`, "lambda_min_clipped = NaN is not supported"},
		{"lcm grid", `{"original_inference_steps": 100}`, "original_inference_steps = 100 is not supported"},
		{"lcm scaling", `{"timestep_scaling": 1}`, "timestep_scaling = 1 is not supported"},
	} {
		c, err := ParseConfig([]byte(tc.json), SD15())
		if err == nil {
			t.Errorf("%s: ParseConfig(%s) = %+v, want an error", tc.name, tc.json, c)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "scheduler: config: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line \"scheduler: config: …%s…\"", tc.name, msg, tc.want)
		}
		for _, goName := range []string{"TrainSteps", "BetaStart", "BetaEnd", "BetaSchedule", "Prediction", "Spacing", "StepsOffset", "rawConfig"} {
			if strings.Contains(err.Error(), goName) {
				t.Errorf("%s: error %q names the Go field %s", tc.name, err, goName)
			}
		}
		if c != (Config{}) {
			t.Errorf("%s: config %+v returned with the error", tc.name, c)
		}
	}
}

// TestReadConfig checks that errors name the file, and that a missing file
// can be told apart.
func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(sd21JSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"prediction_type": "sample"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadConfig(good, SD15()); err != nil || c != SD21() {
		t.Errorf("ReadConfig(%s) = %+v, %v; want %+v", good, c, err, SD21())
	}
	if _, err := ReadConfig(bad, SD15()); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "sample") {
		t.Errorf("ReadConfig(%s): error %v, want one naming the file and the value", bad, err)
	}
	zsnr := filepath.Join(dir, "zsnr.json")
	if err := os.WriteFile(zsnr, []byte(`{"rescale_betas_zero_snr": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(zsnr, SD15()); err == nil || !strings.Contains(err.Error(), zsnr) || !strings.Contains(err.Error(), "rescale_betas_zero_snr") {
		t.Errorf("ReadConfig(%s): error %v, want one naming the file and the key", zsnr, err)
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := ReadConfig(missing, SD15()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadConfig(%s): error %v, want fs.ErrNotExist naming the file", missing, err)
	}
}

// TestReadConfigFiles reads real scheduler_config.json files: SD 1.5's in the
// reference diffusers folder, the complete config of every scheduler class
// the reference rollouts were made with (diffusers 0.35.2), and the one
// sdmini exports with its model.
func TestReadConfigFiles(t *testing.T) {
	t.Run("sdmini", func(t *testing.T) {
		path := filepath.Join("..", "sdmini", "model", "scheduler", "scheduler_config.json")
		if c, err := ReadConfig(path, SD21()); err != nil || c != SD15() {
			t.Errorf("ReadConfig(%s) = %+v, %v; want %+v", path, c, err, SD15())
		}
	})
	t.Run("sd15", func(t *testing.T) {
		path := testdata.Path(t, "pipeline/diffusers/scheduler/scheduler_config.json")
		if c, err := ReadConfig(path, SD21()); err != nil || c != SD21() {
			t.Errorf("ReadConfig(%s) over SD21 = %+v, %v; want %+v", path, c, err, SD21())
		}
		if c, err := ReadConfig(path, SD15()); err != nil || c != SD15() {
			t.Errorf("ReadConfig(%s) = %+v, %v; want %+v", path, c, err, SD15())
		}
	})
	t.Run("reference", func(t *testing.T) {
		dir := testdata.Dir(t, "scheduler")
		// Spacing is the class default diffusers wrote into config_used.
		spacing := map[string]Spacing{"ddpm": Leading, "ddim": Leading, "pndm": Leading, "lcm": Leading}
		for _, v := range variants {
			js, err := os.ReadFile(filepath.Join(dir, v.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Config json.RawMessage `json:"config_used"`
			}
			if err := json.Unmarshal(js, &ref); err != nil || len(ref.Config) == 0 {
				t.Fatalf("%s.json: config_used: %v", v.file, err)
			}
			want := v.cfg
			want.Spacing = Linspace
			if sp, ok := spacing[v.name]; ok {
				want.Spacing = sp
			}
			if c, err := ParseConfig(ref.Config, SD21()); err != nil || c != want {
				t.Errorf("%s.json: ParseConfig(config_used) = %+v, %v; want %+v", v.file, c, err, want)
			}
		}
	})
}

// TestValidateNamesFields checks that a Config built in Go is reported by its
// Go field names.
func TestValidateNamesFields(t *testing.T) {
	with := func(f func(*Config)) Config { c := SD15(); f(&c); return c }
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "TrainSteps = 0, want 2…100000"},
		{with(func(c *Config) { c.TrainSteps = MaxTrainSteps + 1 }), "TrainSteps = 100001"},
		{with(func(c *Config) { c.BetaStart = math.NaN() }), "BetaStart = NaN"},
		{with(func(c *Config) { c.BetaEnd = 2 }), "BetaEnd = 2"},
		{with(func(c *Config) { c.BetaSchedule = "cosine" }), `BetaSchedule = "cosine"`},
		{with(func(c *Config) { c.Prediction = "x0" }), `Prediction = "x0"`},
		{with(func(c *Config) { c.Spacing = "even" }), `Spacing = "even"`},
		{with(func(c *Config) { c.StepsOffset = 1000 }), "StepsOffset = 1000, want 0…999"},
	} {
		if _, err := New("ddim", tc.cfg, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(ddim, %+v): error %v, want one containing %q", tc.cfg, err, tc.want)
		}
		if _, err := tc.cfg.Schedule(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v.Schedule(): error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestStepsOffsetInSchedule checks that ddpm, ddim and pndm refuse step
// counts whose leading timesteps, with the offset, would pass the last
// training timestep (SD 1.5 at 1000 steps reaches t = 1000), instead of
// indexing past ᾱ.
func TestStepsOffsetInSchedule(t *testing.T) {
	short := SD15()
	short.TrainSteps, short.StepsOffset = 10, 9
	trailing := SD15()
	trailing.Spacing = Trailing
	for _, tc := range []struct {
		cfg Config
		n   int
		ok  bool
	}{
		{SD15(), 999, true},
		{SD15(), 1000, false},
		{short, 1, true},
		{short, 2, false},
		{trailing, 1000, true},
	} {
		for _, name := range []string{"ddpm", "ddim", "pndm"} {
			s, err := New(name, tc.cfg, false)
			if err != nil {
				t.Fatal(err)
			}
			err = s.SetTimesteps(tc.n)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "steps_offset") {
					t.Errorf("%s, T=%d, offset %d: SetTimesteps(%d) = %v, want an error naming steps_offset", name, tc.cfg.TrainSteps, tc.cfg.StepsOffset, tc.n, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s, T=%d, offset %d: SetTimesteps(%d): %v", name, tc.cfg.TrainSteps, tc.cfg.StepsOffset, tc.n, err)
				continue
			}
			x := make([]float32, 2)
			if _, err := s.Step(0, x, x, zeros{}); err != nil {
				t.Errorf("%s: Step(0): %v", name, err)
			}
		}
	}
}

// zeros is a Noise of zeros.
type zeros struct{}

func (zeros) Normal(dst []float32) { clear(dst) }

func TestQuoteNonFinite(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a": 1}`, `{"a": 1}`},
		{`{"a": -Infinity, "b": Infinity, "c": NaN}`, `{"a": "-Infinity", "b": "Infinity", "c": "NaN"}`},
		{`{"NaN": "x -Infinity \" NaN", "d": [NaN,-Infinity]}`, `{"NaN": "x -Infinity \" NaN", "d": ["NaN","-Infinity"]}`},
		{`{"e": "\\", "f": NaN}`, `{"e": "\\", "f": "NaN"}`},
		{`"unterminated NaN`, `"unterminated NaN`},
		{`NaN`, `"NaN"`},
		{`Inf`, `Inf`},
	} {
		if got := string(quoteNonFinite([]byte(tc.in))); got != tc.want {
			t.Errorf("quoteNonFinite(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// configJSON writes c as a scheduler_config.json, every field present.
func configJSON(t *testing.T, c Config) []byte {
	t.Helper()
	m := map[string]any{
		"num_train_timesteps": c.TrainSteps,
		"beta_start":          c.BetaStart,
		"beta_end":            c.BetaEnd,
		"beta_schedule":       c.BetaSchedule,
		"prediction_type":     c.Prediction,
		"timestep_spacing":    c.Spacing,
		"steps_offset":        c.StepsOffset,
		"set_alpha_to_one":    c.SetAlphaToOne,
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzParseConfig checks that no scheduler_config.json makes ParseConfig
// panic, that what it accepts is valid, and that it reads back what it
// accepted whatever the base.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{sd15JSON, sd21JSON, `{}`, `null`, `{"num_train_timesteps": 1}`,
		`{"beta_schedule": "linear", "timestep_spacing": "trailing", "set_alpha_to_one": true}`,
		`{"prediction_type": "sample", "steps_offset": -1}`, `{"beta_start": 1e-320, "beta_end": 0.9999999999999999}`,
		dpmJSON, eulerJSON, lcmJSON, `{"trained_betas": [0.1, NaN]}`, `{"lambda_min_clipped": "-inf", "clip_sample": true}`,
		`{"num_train_timesteps": 100001}`, `{"num_train_timesteps": 1000, "steps_offset": 999}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig([]byte(s), SD15())
		if err != nil {
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config validate rejects: %v", err)
		}
		data := configJSON(t, c)
		back, err := ParseConfig(data, Config{})
		if err != nil {
			t.Fatalf("ParseConfig(%s) of an accepted config: %v", data, err)
		}
		if back != c {
			t.Fatalf("ParseConfig(%s) = %+v, want %+v", data, back, c)
		}
	})
}
