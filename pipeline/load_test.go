package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/scheduler"
)

// Weights keep the file's precision unless LoadOptions.Half asks for half
// precision; Close releases the files.
func TestLoadPrecision(t *testing.T) {
	dir := testdata.Dir(t, "pipeline")
	for _, tc := range []struct {
		path string
		half bool // LoadOptions.Half
		want bool // U-Net, text encoder and VAE matrices in half precision
	}{
		{"sd_tiny.safetensors", false, false},
		{"sd_tiny.fp16.safetensors", false, true},
		{"sd_tiny.safetensors", true, true},
		{"diffusers", false, true}, // fp16 variant files only

	} {
		opts := LoadOptions{Config: filepath.Join(dir, "diffusers"), Half: tc.half}
		if tc.path == "diffusers" {
			opts = LoadOptions{Half: tc.half}
		}
		m, err := Load(filepath.Join(dir, tc.path), opts)
		if err != nil {
			t.Fatal(err)
		}
		unetHalf := m.UNet.ConvIn.Weight.Half != nil
		textHalf := m.Text.Encoder.Layers[0].SelfAttn.QProj.Weight.Half != nil
		vaeHalf := m.VAE.Decoder.ConvIn.Weight.Half != nil
		if unetHalf != tc.want || textHalf != tc.want || vaeHalf != tc.want {
			t.Errorf("%s, Half %v: half-precision U-Net %v, text encoder %v, VAE %v; want %v", tc.path, tc.half, unetHalf, textHalf, vaeHalf, tc.want)
		}
		if m.UNet.ConvIn.Bias.Half != nil {
			t.Errorf("%s: a bias in half precision", tc.path)
		}
		if err := m.Close(); err != nil {
			t.Errorf("%s: Close: %v", tc.path, err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("%s: second Close: %v", tc.path, err)
		}
	}
}

// A diffusers folder's scheduler_config.json is read over SD 1.5's schedule;
// without one the family's preset applies, and a bad one is an error naming
// the file.
func TestReadSchedulerConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		json    string // "" for no file
		version Version
		want    scheduler.Config
		wantErr string // in the error, with the file's path
	}{
		{"sd1 without file", "", SD1, scheduler.SD15(), ""},
		{"sd2 without file", "", SD2, scheduler.SD21(), ""},
		{"sd2 file", `{"prediction_type": "v_prediction", "steps_offset": 1}`, SD2, scheduler.SD21(), ""},
		{"sd2 file without prediction", `{"steps_offset": 1}`, SD2, scheduler.SD15(), ""},
		{"bad json", `{"prediction_type": `, SD1, scheduler.Config{}, "unexpected end of JSON input"},
		{"bad value", `{"num_train_timesteps": 0}`, SD1, scheduler.Config{}, "num_train_timesteps = 0"},
		{"unsupported", `{"trained_betas": [0.0001, 0.02]}`, SD1, scheduler.Config{}, "trained_betas is not supported"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
		if tc.json != "" {
			if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readSchedulerConfig(path, tc.version)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one naming %s and containing %q", tc.name, err, path, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case got != tc.want:
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
