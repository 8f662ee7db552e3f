package scheduler

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/weights"
)

// variant is one rollout of the reference: the sampler and config that
// reproduce it.
type variant struct {
	file   string // <file>.safetensors, <file>.json
	name   string
	cfg    Config
	karras bool
}

var variants = []variant{
	{"ddpm", "ddpm", SD15(), false},
	{"ddim", "ddim", SD15(), false},
	{"pndm", "pndm", SD15(), false},
	{"lms", "lms", SD15(), false},
	{"euler", "euler", SD15(), false},
	{"euler_a", "euler_a", SD15(), false},
	{"heun", "heun", SD15(), false},
	{"dpmpp_2m", "dpm++2m", SD15(), false},
	{"dpmpp_2m_karras", "dpm++2m", SD15(), true},
	{"lcm", "lcm", SD15(), false},
	{"ddim_v", "ddim", SD21(), false},
	{"euler_v", "euler", SD21(), false},
}

// bound is the README's tolerance: max |Δ| ≤ bound·max(1, max|ref|).
const bound = 1e-4

// compare returns max |got−want| and that divided by max(1, max|want|).
func compare(got, want []float32) (abs, rel float64) {
	var scale float64 = 1
	for i, w := range want {
		abs = max(abs, math.Abs(float64(got[i])-float64(w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	if len(got) != len(want) {
		return math.Inf(1), math.Inf(1)
	}
	return abs, abs / scale
}

// replay is a Noise that hands out one recorded tensor, once.
type replay struct {
	data []float32
	used bool
	err  error
}

func (r *replay) Normal(dst []float32) {
	switch {
	case r.data == nil:
		r.err = fmt.Errorf("noise drawn where the reference drew none")
	case r.used:
		r.err = fmt.Errorf("noise drawn twice")
	case len(dst) != len(r.data):
		r.err = fmt.Errorf("noise of %d values drawn, reference has %d", len(dst), len(r.data))
	default:
		copy(dst, r.data)
	}
	r.used = true
}

// refRun is the part of <variant>.json a run needs.
type refRun struct {
	InitNoiseSigma float64 `json:"init_noise_sigma"`
	Steps          []struct {
		Scale float64 `json:"scale_model_input_factor"`
	} `json:"steps"`
}

func TestTrainingSchedule(t *testing.T) {
	dir := testdata.Dir(t, "scheduler")
	f, err := weights.Open(filepath.Join(dir, "common.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := SD15().Schedule()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"betas", s.Betas}, {"alphas", s.Alphas}, {"alphas_cumprod", s.AlphasCumprod}} {
		want, err := f.Tensor(c.name)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0
		for i, w := range want.Data {
			if c.got[i] != w {
				diff++
			}
		}
		abs, _ := compare(c.got, want.Data)
		if diff > 0 {
			t.Errorf("%s: %d of %d values differ from torch's (max |Δ| %.3g), want bit-exact", c.name, diff, len(want.Data), abs)
		}
	}
}

// TestParity replays every recorded rollout: timesteps, sigmas and every
// intermediate tensor, injecting the recorded model output and noise.
func TestParity(t *testing.T) {
	dir := testdata.Dir(t, "scheduler")
	for _, v := range variants {
		t.Run(v.file, func(t *testing.T) {
			f, err := weights.Open(filepath.Join(dir, v.file+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			js, err := os.ReadFile(filepath.Join(dir, v.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Runs map[string]refRun `json:"runs"`
			}
			if err := json.Unmarshal(js, &ref); err != nil {
				t.Fatalf("%s.json: %v", v.file, err)
			}
			var worstAbs, worstRel float64
			var worstKey string
			for _, n := range []int{1, 4, 20, 50} {
				s, err := New(v.name, v.cfg, v.karras)
				if err != nil {
					t.Fatal(err)
				}
				a, r, k := rollout(t, f, s, n, ref.Runs[fmt.Sprint(n)])
				if r > worstRel || worstKey == "" {
					worstAbs, worstRel, worstKey = a, r, k
				}
			}
			t.Logf("%-16s worst max|Δ| %.3g (relative %.3g) at %s", v.file, worstAbs, worstRel, worstKey)
		})
	}
}

// rollout runs n steps of s against the reference in f and returns the worst
// tensor error and its key.
func rollout(t *testing.T, f *weights.File, s Scheduler, n int, run refRun) (worstAbs, worstRel float64, worstKey string) {
	t.Helper()
	p := fmt.Sprintf("n%d.", n)
	tensor := func(key string) []float32 {
		x, err := f.Tensor(p + key)
		if err != nil {
			t.Fatal(err)
		}
		return x.Data
	}
	check := func(key string, got []float32) {
		want := tensor(key)
		abs, rel := compare(got, want)
		if rel > worstRel || worstKey == "" {
			worstAbs, worstRel, worstKey = abs, rel, p+key
		}
		if rel > bound {
			t.Errorf("%s%s: max|Δ| %.3g (relative %.3g) > %g", p, key, abs, rel, bound)
		}
	}

	if err := s.SetTimesteps(n); err != nil {
		t.Fatal(err)
	}
	// Timesteps, exactly (they are integers or float32 values).
	var wantT []float64
	if in, _ := f.Info(p + "timesteps"); in.DType == weights.I64 {
		ints, _, err := f.Int64s(p + "timesteps")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ints {
			wantT = append(wantT, float64(x))
		}
	} else {
		var err error
		if wantT, _, err = f.Float64s(p + "timesteps"); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(s.Timesteps(), wantT) {
		t.Fatalf("%stimesteps = %v, want %v", p, s.Timesteps(), wantT)
	}
	if sb, ok := s.(interface{ Sigmas() []float32 }); ok {
		want := tensor("sigmas")
		abs, _ := compare(sb.Sigmas(), want)
		if abs > 1e-6*float64(want[0]) || len(sb.Sigmas()) != len(want) {
			t.Errorf("%ssigmas = %v, want %v", p, sb.Sigmas(), want)
		}
	}
	if got := s.InitNoiseSigma(); math.Abs(got-run.InitNoiseSigma) > 1e-7*run.InitNoiseSigma {
		t.Errorf("%sinit_noise_sigma = %v, want %v", p, got, run.InitNoiseSigma)
	}

	// x = x_T · init_noise_sigma
	x := tensor("x_T")
	sigma := float32(s.InitNoiseSigma())
	for j := range x {
		x[j] *= sigma
	}
	check("latents_0", x)
	in := make([]float32, len(x))
	for i := range s.Timesteps() {
		q := fmt.Sprintf("step%d.", i)
		if err := s.ScaleModelInput(i, in, x); err != nil {
			t.Fatal(err)
		}
		check(q+"model_input", in)
		noise := &replay{}
		if _, ok := f.Info(p + q + "noise"); ok {
			noise.data = tensor(q + "noise")
		}
		x0, err := s.Step(i, tensor(q+"model_output"), x, noise)
		if err != nil {
			t.Fatal(err)
		}
		if noise.err != nil || (noise.data != nil && !noise.used) {
			t.Fatalf("%s%s: noise: %v (drawn: %v)", p, q, noise.err, noise.used)
		}
		check(q+"prev_sample", x)
		for _, key := range []string{"pred_original_sample", "denoised"} {
			if _, ok := f.Info(p + q + key); ok {
				check(q+key, x0)
			}
		}
	}
	check("final", x)
	return worstAbs, worstRel, worstKey
}

// TestNames builds every name of Names, runs a short schedule with a fake
// model, and checks that the result is finite and that unknown names list
// the valid ones.
func TestNames(t *testing.T) {
	for _, name := range Names() {
		for _, karras := range []bool{false, true} {
			s, err := New(name, SD15(), karras)
			if karras && (name == "ddpm" || name == "ddim" || name == "pndm" || name == "lcm") {
				if err == nil {
					t.Errorf("New(%q, karras) succeeded, want an error", name)
				}
				continue
			}
			if err != nil {
				t.Fatalf("New(%q, %v): %v", name, karras, err)
			}
			if err := s.SetTimesteps(10); err != nil {
				t.Fatal(err)
			}
			x := make([]float32, 16)
			noise := constNoise(0.5)
			for j := range x {
				x[j] = float32(s.InitNoiseSigma()) * float32(j%5-2) / 2
			}
			in := make([]float32, len(x))
			for i, ts := range s.Timesteps() {
				if err := s.ScaleModelInput(i, in, x); err != nil {
					t.Fatal(err)
				}
				for j := range in {
					in[j] = 0.5*in[j] + 0.25*float32(math.Sin(ts/100))
				}
				if _, err := s.Step(i, in, x, noise); err != nil {
					t.Fatalf("%s: step %d: %v", name, i, err)
				}
			}
			for _, v := range x {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 100 {
					t.Fatalf("%s (karras %v): final latent has %v", name, karras, v)
				}
			}
		}
	}
	_, err := New("euler-a", SD15(), false)
	if err == nil || !strings.Contains(err.Error(), strings.Join(Names(), ", ")) {
		t.Errorf("New(unknown) error = %v, want one listing %v", err, Names())
	}
}

// constNoise fills every draw with one value.
type constNoise float32

func (c constNoise) Normal(dst []float32) {
	for i := range dst {
		dst[i] = float32(c)
	}
}

// BenchmarkRollout measures a 20-step schedule of each sampler (without
// the model) on an SD 1.5 512×512 latent, (1, 4, 64, 64).
func BenchmarkRollout(b *testing.B) {
	const n = 4 * 64 * 64
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			s, err := New(name, SD15(), false)
			if err != nil {
				b.Fatal(err)
			}
			x, eps := make([]float32, n), make([]float32, n)
			noise := constNoise(0.1)
			for b.Loop() {
				if err := s.SetTimesteps(20); err != nil {
					b.Fatal(err)
				}
				for i := range s.Timesteps() {
					for j := range x {
						x[j], eps[j] = 0.5, 0.25
					}
					if _, err := s.Step(i, eps, x, noise); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
