package pipeline

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/weights"
)

// sd2Fixture assembles an SD 2.x-style model from the tiny reference
// components (OpenCLIP-style text encoder of width 64, the SD2-style U-Net
// with linear projections and cross-attention width 64, the tiny VAE): a
// diffusers folder of links, and a single file in the original layout.
func sd2Fixture(t *testing.T) (folder, single string) {
	td, _ := testdata.Root()
	testdata.Dir(t, "unet/sd2")
	testdata.Dir(t, "clip/sd2")
	dir := t.TempDir()
	folder = filepath.Join(dir, "sd2-tiny")
	link := func(src, dst string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(td, "tokenizer"), filepath.Join(folder, "tokenizer"))
	link(filepath.Join(td, "clip/sd2/config.json"), filepath.Join(folder, "text_encoder/config.json"))
	link(filepath.Join(td, "clip/sd2/model.safetensors"), filepath.Join(folder, "text_encoder/model.safetensors"))
	link(filepath.Join(td, "unet/sd2/config.json"), filepath.Join(folder, "unet/config.json"))
	link(filepath.Join(td, "unet/sd2/diffusion_pytorch_model.safetensors"), filepath.Join(folder, "unet/diffusion_pytorch_model.safetensors"))
	link(filepath.Join(td, "vae/config.json"), filepath.Join(folder, "vae/config.json"))
	link(filepath.Join(td, "vae/diffusion_pytorch_model.safetensors"), filepath.Join(folder, "vae/diffusion_pytorch_model.safetensors"))
	os.WriteFile(filepath.Join(folder, "model_index.json"), []byte(`{"_class_name": "StableDiffusionPipeline"}`), 0o644)
	os.MkdirAll(filepath.Join(folder, "scheduler"), 0o755)
	os.WriteFile(filepath.Join(folder, "scheduler/scheduler_config.json"), []byte(`{"prediction_type": "v_prediction", "steps_offset": 1}`), 0o644)

	// The single file: every tensor of the three original-layout files.
	var entries []weights.Entry
	for _, p := range []string{"unet/sd2/unet_ldm.fp16.safetensors", "vae/vae_ldm.fp16.safetensors", "clip/sd2/sd2_openclip_names.fp16.safetensors"} {
		f, err := weights.Open(filepath.Join(td, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range f.Names() {
			x, err := f.Tensor(n)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, weights.Entry{Name: n, DType: weights.F16, Shape: x.Shape, Float: x.Data})
		}
		f.Close()
	}
	single = filepath.Join(dir, "sd2-tiny.safetensors")
	if err := weights.Write(single, entries, nil, false); err != nil {
		t.Fatal(err)
	}
	return folder, single
}

func TestSD2(t *testing.T) {
	folder, single := sd2Fixture(t)
	outputs, err := weights.Open(testdata.Path(t, "clip/sd2/outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer outputs.Close()
	row0 := func(name string) *nn.Tensor { // prompt 0 is refPrompt
		x, err := outputs.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		d := x.Shape[2]
		return nn.From(x.Data[:77*d], 1, 77, d)
	}
	for _, tc := range []struct {
		name string
		path string
		opts LoadOptions
		want *nn.Tensor
	}{
		// The diffusers folder's text encoder is used whole: last layer.
		{"diffusers", folder, LoadOptions{}, row0("w32.last_hidden_state")},
		// The single file holds OpenCLIP's tower; SD 2.x uses its penultimate layer.
		{"single file", single, LoadOptions{Config: folder}, row0("w16.penultimate_normed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != SD2 || m.Pad != tokenizer.PadSD2 {
				t.Fatalf("version %v, pad %v", m.Version, m.Pad)
			}
			z, ids, err := m.encodePrompt(refPrompt, 1)
			if err != nil {
				t.Fatal(err)
			}
			if ids[76] != 0 {
				t.Fatalf("SD 2.x ids not padded with 0: %v", ids)
			}
			compareRel(t, "context", z, tc.want, 1e-5)
			if _, err := m.Generate(context.Background(), Options{Prompt: refPrompt, Steps: 2, Width: 32, Height: 32}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSDTurbo runs SD-Turbo's settings (SD 2.1-based: Euler ancestral,
// trailing timestep spacing, one to four steps, no guidance) on the tiny
// SD 2.x model, as `sdgo -m FOLDER --steps N --cfg-scale 0 --scheduler
// euler_a --timestep-spacing trailing` does, and checks them against
// diffusers' formulas computed here in float64: the timesteps
// round(arange(1000, 0, −1000/N)) − 1 (EulerAncestralDiscreteScheduler
// .set_timesteps, "trailing"), the σ's interpolated from the training
// schedule (scaled_linear 0.00085–0.012), init_noise_sigma = σ_max (not
// √(σ_max²+1): trailing), a single U-Net batch, and for one step the image
// latent equal to the step's x̂₀ (σ_down = σ_up = 0 at the last step) =
// diffusers' v-prediction formula v·(−σ/√(σ²+1)) + x/(σ²+1) of the U-Net's
// output, every element.
func TestSDTurbo(t *testing.T) {
	folder, _ := sd2Fixture(t)
	m, err := Load(folder, LoadOptions{TimestepSpacing: scheduler.Trailing})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Version != SD2 || m.Scheduler.Prediction != scheduler.VPrediction {
		t.Fatalf("version %v, prediction %q: want SD 2.x, v_prediction (the fixture's scheduler config)", m.Version, m.Scheduler.Prediction)
	}
	// diffusers: betas = linspace(√β₀, √β₁, 1000)² (float32), ᾱ = cumprod(1 − β),
	// σ = √((1 − ᾱ)/ᾱ).
	const T = 1000
	train := make([]float64, T)
	ac := 1.0
	for i := range T {
		b := math.Sqrt(0.00085) + (math.Sqrt(0.012)-math.Sqrt(0.00085))*float64(i)/float64(T-1)
		ac *= 1 - float64(float32(b*b))
		train[i] = math.Sqrt((1 - ac) / ac)
	}
	for n := 1; n <= 4; n++ {
		t.Run(fmt.Sprint(n, "steps"), func(t *testing.T) {
			var want []float64
			for i := range n {
				want = append(want, math.RoundToEven(T-float64(i)*T/float64(n))-1) // numpy's round: half to even
			}
			// --cfg-scale 0 reaches the library as 1 (0 means its default, 7.5): no guidance either way.
			var steps []StepDetail
			o := Options{Prompt: refPrompt, Steps: n, CFGScale: 1, Sampler: "euler_a", Seed: 7, Width: 32, Height: 32, Stages: &Stages{},
				Inspect: func(d StepDetail) {
					c := d
					c.Sigmas = append([]float32(nil), d.Sigmas...)
					c.Eps, c.X0 = nn.From(append([]float32(nil), d.Eps.Data...), d.Eps.Shape...), nn.From(append([]float32(nil), d.X0.Data...), d.X0.Shape...)
					c.Latents = nn.From(append([]float32(nil), d.Latents.Data...), d.Latents.Shape...)
					steps = append(steps, c)
				}}
			if _, err := m.Generate(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if len(steps) != n {
				t.Fatalf("%d steps ran, want %d", len(steps), n)
			}
			for i, d := range steps {
				if d.EpsUncond != nil {
					t.Errorf("step %d: an unconditional U-Net batch ran with guidance 0", i)
				}
				if d.Timestep != want[i] {
					t.Errorf("step %d: timestep %g, want %g (timesteps %v)", i, d.Timestep, want[i], d.Timesteps)
				}
				if s, w := float64(d.Sigmas[i]), train[int(want[i])]; math.Abs(s-w) > 1e-6*w {
					t.Errorf("step %d: σ %g, want %g", i, s, w)
				}
			}
			if last := steps[0].Sigmas[n]; last != 0 {
				t.Errorf("final σ %g, want 0", last)
			}
			sched, err := scheduler.New("euler_a", m.Scheduler, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := sched.SetTimesteps(n); err != nil {
				t.Fatal(err)
			}
			if s, w := sched.InitNoiseSigma(), train[T-1]; math.Abs(s-w) > 1e-6*w {
				t.Errorf("init_noise_sigma %g, want σ_max %g", s, w)
			}
			if n != 1 {
				return
			}
			// One step: x̂₀ from the U-Net's v, and the final latent is x̂₀.
			x := o.Stages.Tensor("latents_init") // (1, 4, 16, 16)
			sigma := float64(steps[0].Sigmas[0])
			x0 := nn.New(x.Shape...)
			for i, v := range steps[0].Eps.Data {
				x0.Data[i] = float32(float64(v)*(-sigma/math.Sqrt(sigma*sigma+1)) + float64(x.Data[i])/(sigma*sigma+1))
			}
			compareRel(t, "x̂₀ (v-prediction)", steps[0].X0, x0, 1e-6)
			compareRel(t, "final latents = x̂₀", steps[0].Latents, x0, 1e-5) // x + (x − x̂₀)/σ·(0 − σ) in float32
		})
	}
}
