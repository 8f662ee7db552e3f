package scheduler

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"unused keys", `{"_class_name": "EulerDiscreteScheduler", "clip_sample": true, "interpolation_type": "linear"}`, SD15(), SD15()},
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

// TestParseConfigErrors checks that bad JSON, wrong types and values no
// sampler can use are errors naming the field, never a panic.
func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       string // in the error
	}{
		{"empty", ``, "unexpected end of JSON input"},
		{"truncated", `{"beta_start": 0.00085`, "unexpected end of JSON input"},
		{"not an object", `[1000]`, "cannot unmarshal array"},
		{"trailing text", `{} {}`, "invalid character"},
		{"steps as string", `{"num_train_timesteps": "1000"}`, "num_train_timesteps"},
		{"steps as fraction", `{"num_train_timesteps": 999.5}`, "num_train_timesteps"},
		{"steps too large for int", `{"num_train_timesteps": 1e30}`, "num_train_timesteps"},
		{"beta as string", `{"beta_start": "0.00085"}`, "beta_start"},
		{"beta overflows", `{"beta_end": 1e400}`, "beta_end"},
		{"schedule as number", `{"beta_schedule": 1}`, "beta_schedule"},
		{"prediction as list", `{"prediction_type": ["epsilon"]}`, "prediction_type"},
		{"offset as bool", `{"steps_offset": true}`, "steps_offset"},
		{"alpha as string", `{"set_alpha_to_one": "false"}`, "set_alpha_to_one"},
		{"zero steps", `{"num_train_timesteps": 0}`, "TrainSteps 0"},
		{"negative steps", `{"num_train_timesteps": -1000}`, "TrainSteps -1000"},
		{"one step", `{"num_train_timesteps": 1}`, "TrainSteps 1"},
		{"zero beta", `{"beta_start": 0}`, "betas 0…"},
		{"beta of one", `{"beta_end": 1}`, "betas 0.00085…1"},
		{"negative beta", `{"beta_start": -0.1}`, "betas -0.1…"},
		{"cosine schedule", `{"beta_schedule": "squaredcos_cap_v2"}`, `BetaSchedule "squaredcos_cap_v2"`},
		{"empty schedule", `{"beta_schedule": ""}`, `BetaSchedule ""`},
		{"sample prediction", `{"prediction_type": "sample"}`, `Prediction "sample"`},
		{"unknown spacing", `{"timestep_spacing": "uniform"}`, `Spacing "uniform"`},
		{"negative offset", `{"steps_offset": -1}`, "StepsOffset -1"},
	} {
		c, err := ParseConfig([]byte(tc.json), SD15())
		if err == nil {
			t.Errorf("%s: ParseConfig(%s) = %+v, want an error", tc.name, tc.json, c)
			continue
		}
		if !strings.HasPrefix(err.Error(), "scheduler: config: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want \"scheduler: config: …%s…\"", tc.name, err, tc.want)
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
	missing := filepath.Join(dir, "missing.json")
	if _, err := ReadConfig(missing, SD15()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadConfig(%s): error %v, want fs.ErrNotExist naming the file", missing, err)
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
		`{"prediction_type": "sample", "steps_offset": -1}`, `{"beta_start": 1e-320, "beta_end": 0.9999999999999999}`} {
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
