package pipeline

import (
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// The reference runs of ../shared/testdata/pipeline: diffusers' scheduler
// name → ours.
var runs = []struct{ ref, sampler string }{
	{"pndm", "pndm"}, {"ddim", "ddim"}, {"ddpm", "ddpm"}, {"lms", "lms"}, {"euler", "euler"},
	{"euler_a", "euler_a"}, {"heun", "heun"}, {"dpmpp_2m", "dpm++2m"}, {"dpmpp_2m_karras", "dpm++2m"},
}

const refPrompt = "a photograph of an astronaut riding a horse"

func loadTiny(t *testing.T, path string) *Model {
	t.Helper()
	dir := testdata.Dir(t, "pipeline")
	opts := LoadOptions{Config: filepath.Join(dir, "diffusers")}
	if path == "diffusers" {
		opts = LoadOptions{}
	}
	m, err := Load(filepath.Join(dir, path), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// compareRel fails when got and want differ by more than tol·max(1, max|want|) anywhere.
func compareRel(t *testing.T, what string, got, want *nn.Tensor, tol float64) {
	t.Helper()
	if got == nil || !nn.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v, want shape %v", what, got, want.Shape)
	}
	var maxAbs, maxRef float64
	for i, w := range want.Data {
		maxRef = max(maxRef, math.Abs(float64(w)))
		if d := math.Abs(float64(got.Data[i] - w)); d > maxAbs || math.IsNaN(d) {
			maxAbs = d
		}
	}
	if rel := maxAbs / max(1, maxRef); rel > tol || math.IsNaN(maxAbs) {
		t.Errorf("%s: max |Δ| %.3g (relative to max |ref| %.3g: %.3g > %.1g)", what, maxAbs, maxRef, rel, tol)
	}
}

func TestParitySingleFile(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	dir := testdata.Dir(t, "pipeline")
	for _, r := range runs {
		for _, steps := range []int{4, 20} {
			name := fmt.Sprintf("%s_%d", r.ref, steps)
			t.Run(name, func(t *testing.T) {
				ref, err := weights.Open(filepath.Join(dir, "runs", name+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				stages := &Stages{}
				res, err := m.Generate(context.Background(), Options{
					Prompt: refPrompt, Steps: steps, CFGScale: 7.5, Seed: 42, Width: 32, Height: 32,
					Sampler: r.sampler, Karras: strings.HasSuffix(r.ref, "karras"), Stages: stages,
				})
				if err != nil {
					t.Fatal(err)
				}
				want := func(n string) *nn.Tensor {
					x, err := ref.Tensor("w32." + n)
					if err != nil {
						t.Fatal(err)
					}
					return x
				}
				compareRel(t, "latents_0", stages.Tensor("latents_init"), want("latents_0"), 1e-6)
				for i := 0; ; i++ {
					n := fmt.Sprintf("step%d.latents", i)
					if _, ok := ref.Info("w32." + n); !ok {
						break
					}
					compareRel(t, n, stages.Tensor(fmt.Sprintf("latents_step%d", i)), want(n), 1e-5)
				}
				compareRel(t, "final", lastLatents(stages), want("final_latents"), 1e-5)
				compareRel(t, "image", stages.Tensor("image"), want("image"), 1e-4)
				// The 8-bit image: at most one level off anywhere.
				f, err := os.Open(filepath.Join(dir, "runs", name+".png"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				refImg, err := png.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				worst := 0
				for y := 0; y < 32; y++ {
					for x := 0; x < 32; x++ {
						r1, g1, b1, _ := refImg.At(x, y).RGBA()
						r2, g2, b2, _ := res[0].Image.At(x, y).RGBA()
						for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
							worst = max(worst, d, -d)
						}
					}
				}
				if worst > 1 {
					t.Errorf("PNG differs by %d levels", worst)
				}
			})
		}
	}
}

// The fp16 files — single file and diffusers folder with fp16-variant
// weights — give diffusers' run with fp16-rounded weights.
func TestParityFP16(t *testing.T) {
	dir := testdata.Dir(t, "pipeline")
	for _, path := range []string{"sd_tiny.fp16.safetensors", "diffusers"} {
		m := loadTiny(t, path)
		for _, name := range []string{"pndm_4", "euler_a_4", "dpmpp_2m_karras_4"} {
			t.Run(path+"/"+name, func(t *testing.T) {
				ref, err := weights.Open(filepath.Join(dir, "runs", name+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				stages := &Stages{}
				sampler := strings.TrimSuffix(strings.TrimSuffix(name, "_4"), "_karras")
				if sampler == "dpmpp_2m" {
					sampler = "dpm++2m"
				}
				_, err = m.Generate(context.Background(), Options{
					Prompt: refPrompt, Steps: 4, CFGScale: 7.5, Seed: 42, Width: 32, Height: 32,
					Sampler: sampler, Karras: strings.Contains(name, "karras"), Stages: stages,
				})
				if err != nil {
					t.Fatal(err)
				}
				final, _ := ref.Tensor("w16.final_latents")
				img, _ := ref.Tensor("w16.image")
				compareRel(t, "final", lastLatents(stages), final, 1e-5)
				compareRel(t, "image", stages.Tensor("image"), img, 1e-4)
			})
		}
	}
}

// lastLatents returns the latents after the last scheduler step.
func lastLatents(s *Stages) *nn.Tensor {
	last := 0
	for _, n := range s.Names() {
		if strings.HasPrefix(n, "latents_step") {
			last++
		}
	}
	return s.Tensor(fmt.Sprintf("latents_step%d", last-1))
}
