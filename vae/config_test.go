package vae

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
)

func TestConfig(t *testing.T) {
	dir := testdata.Dir(t, "vae")
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{InChannels: 3, OutChannels: 3, LatentChannels: 4, BlockOut: []int{32, 64}, LayersPerBlock: 2,
		NormGroups: 32, SampleSize: 32, ScalingFactor: 0.18215, MidAttention: true, QuantConv: true, PostQuantConv: true}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("ReadConfig = %+v, want %+v", cfg, want)
	}
	if f := cfg.ScaleFactor(); f != 2 {
		t.Errorf("ScaleFactor = %d, want 2", f)
	}
	// Inferred from either layout's shapes: all but what shapes cannot tell.
	for _, file := range []string{"diffusion_pytorch_model.safetensors", "vae_ldm.fp16.safetensors"} {
		v, err := View(openRef(t, filepath.Join("vae", file)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := InferConfig(v)
		if err != nil {
			t.Fatal(err)
		}
		got.SampleSize, got.ScalingFactor = want.SampleSize, want.ScalingFactor
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: InferConfig = %+v, want %+v", file, got, want)
		}
		// Load with a zero Config infers it the same way.
		m, err := Load(v, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Config.BlockOut, want.BlockOut) || m.Config.ScalingFactor != 0.18215 {
			t.Errorf("%s: Load(Config{}) config %+v", file, m.Config)
		}
	}
	for _, bad := range []struct{ json, want string }{
		{`{"block_out_channels": []}`, "block_out_channels"},
		{`{"block_out_channels": [30]}`, "block_out_channels"},
		{`{"layers_per_block": 0}`, "layers_per_block"},
		{`{`, "config"},
		{`{"latents_mean": [0, 0, 0, 0]}`, "together"},
		{`{"latents_mean": [0, 0, 0], "latents_std": [1, 1, 1]}`, "one per latent channel (4)"},
		{`{"latents_mean": [0, 0, 0, 0], "latents_std": [1, 0, 1, 1]}`, "latents_std[1]"},
	} {
		if _, err := ParseConfig([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseConfig(%s): err = %v, want one naming %q", bad.json, err, bad.want)
		}
	}
}

// TestLatentStats checks Scale and Unscale with per-channel statistics
// (diffusers' latents_mean and latents_std) against the formulas, element by
// element, and that they undo each other.
func TestLatentStats(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"latent_channels": 2, "block_out_channels": [32], "scaling_factor": 0.5,
		"latents_mean": [1.5, -2], "latents_std": [4, 0.25]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Config: cfg}
	z := nn.New(2, 2, 1, 3) // (B, C, h, w)
	for i := range z.Data {
		z.Data[i] = float32(i) - 5
	}
	lat := m.Scale(z)
	back := m.Unscale(lat)
	for i, v := range z.Data {
		c := i / 3 % 2
		mean, std := cfg.LatentsMean[c], cfg.LatentsStd[c]
		if want := (float64(v) - mean) * 0.5 / std; math.Abs(float64(lat.Data[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("Scale: element %d (channel %d) = %g, want %g", i, c, lat.Data[i], want)
		}
		if math.Abs(float64(back.Data[i]-v)) > 1e-5 {
			t.Errorf("Unscale(Scale(z)): element %d = %g, want %g", i, back.Data[i], v)
		}
	}
	if z.Data[0] != -5 {
		t.Errorf("Scale changed its input")
	}
}

func TestLoadErrors(t *testing.T) {
	f := openRef(t, "vae/diffusion_pytorch_model.safetensors")
	if _, err := Load(f, SD15()); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("loading the tiny VAE as SD 1.5: err = %v, want a shape error", err)
	}
	cfg := SD15()
	cfg.BlockOut, cfg.SampleSize, cfg.LayersPerBlock = []int{32, 64}, 32, 1
	if _, err := Load(f, cfg); err == nil || !strings.Contains(err.Error(), "unexpected") {
		t.Errorf("loading with too few layers per block: err = %v, want unexpected tensors", err)
	}
	m := loadRef(t, "diffusion_pytorch_model.safetensors")
	tiny := openRef(t, "taesd/random_arch/taesd_decoder.fp16.safetensors")
	if _, err := Load(tiny, SD15()); err == nil {
		t.Error("loading TAESD as an AutoencoderKL: no error")
	}
	z, x := nn.New(1, 3, 8, 8), nn.New(1, 3, 31, 32)
	if _, err := m.Decode(z); err == nil {
		t.Error("Decode of 3-channel latents: no error")
	}
	if _, err := m.Encode(x); err == nil {
		t.Error("Encode of a 31-row image: no error")
	}
}
