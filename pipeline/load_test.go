package pipeline

import (
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
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
