package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// maxDiff is max |a − b| over every element; +Inf for a shape mismatch.
func maxDiff(a, b *nn.Tensor) float64 {
	if a == nil || b == nil || !nn.SameShape(a.Shape, b.Shape) {
		return math.Inf(1)
	}
	var d float64
	for i := range a.Data {
		d = max(d, math.Abs(float64(a.Data[i]-b.Data[i])))
	}
	return d
}

// stagesAndRef opens DIR/stages.safetensors and a reference file.
func stagesAndRef(t *testing.T, stages, ref string) (got, want func(string) *nn.Tensor) {
	t.Helper()
	open := func(p string) func(string) *nn.Tensor {
		f, err := weights.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return func(n string) *nn.Tensor {
			x, err := f.Tensor(n)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
	}
	return open(filepath.Join(stages, "stages.safetensors")), open(ref)
}

// TestGenerateSDXL runs the command on the tiny SDXL: SDXL-Turbo's one step
// without guidance from the diffusers folder and --scheduler-config; the
// micro-conditioning flags on the fp16 single file with --config; an
// explicit -n "" with --timestep-spacing. Each is checked against
// diffusers' run through --dump-stages.
func TestGenerateSDXL(t *testing.T) {
	td := testdata.Dir(t, "sdxl")
	dir := t.TempDir()
	folder := filepath.Join(td, "diffusers")
	prompt := "a photograph of an astronaut riding a horse"

	st := filepath.Join(dir, "turbo")
	code, _, stderr := sdgo("-m", folder, "--scheduler-config", filepath.Join(td, "scheduler_turbo", "scheduler_config.json"),
		"-p", prompt, "--steps", "1", "--cfg-scale", "0", "--sampler", "euler_a", "-W", "32", "-H", "32",
		"-o", filepath.Join(dir, "turbo.png"), "--dump-stages", st, "-q")
	if code != 0 {
		t.Fatalf("turbo: exit %d: %s", code, stderr)
	}
	got, want := stagesAndRef(t, st, filepath.Join(td, "runs", "turbo_1.safetensors"))
	if d := maxDiff(got("latents_step0"), want("w32.final_latents")); d > 1e-5*57 {
		t.Errorf("turbo: final latents differ by %.3g", d)
	}
	if d := maxDiff(got("image"), want("w32.image")); d > 1e-4 {
		t.Errorf("turbo: image differs by %.3g", d)
	}
	if d := maxDiff(got("pooled_cond"), want("w32.add_text_embeds")); d > 1e-5 {
		t.Errorf("turbo: pooled_cond differs by %.3g", d)
	}

	// The same with the flags alone (as for SD-Turbo, whose folder's
	// scheduler is not Turbo's): --scheduler euler_a --timestep-spacing trailing.
	st = filepath.Join(dir, "turbo-flags")
	code, _, stderr = sdgo("-m", folder, "-p", prompt, "--steps", "1", "--cfg-scale", "0", "--scheduler", "euler_a",
		"--timestep-spacing", "trailing", "-W", "32", "-H", "32", "-o", filepath.Join(dir, "turbo-flags.png"), "--dump-stages", st, "-q")
	if code != 0 {
		t.Fatalf("turbo flags: exit %d: %s", code, stderr)
	}
	got, want = stagesAndRef(t, st, filepath.Join(td, "runs", "turbo_1.safetensors"))
	if d := maxDiff(got("latents_step0"), want("w32.final_latents")); d > 1e-5*57 {
		t.Errorf("turbo flags: final latents differ by %.3g", d)
	}

	st = filepath.Join(dir, "micro")
	code, _, stderr = sdgo("-m", filepath.Join(td, "sdxl_tiny.fp16.safetensors"), "--config", folder,
		"-p", prompt, "--steps", "4", "--cfg-scale", "5", "--sampler", "euler", "-W", "32", "-H", "32",
		"--original-size", "64x96", "--crop-top-left", "4,8", "--target-size", "32x32",
		"-o", filepath.Join(dir, "micro.png"), "--dump-stages", st, "-q")
	if code != 0 {
		t.Fatalf("micro: exit %d: %s", code, stderr)
	}
	got, want = stagesAndRef(t, st, filepath.Join(td, "runs", "micro_4.safetensors"))
	if ids := got("add_time_ids"); maxDiff(ids, nn.From([]float32{96, 64, 4, 8, 32, 32}, 1, 6)) != 0 {
		t.Errorf("add_time_ids %v, want 96 64 4 8 32 32", ids.Data)
	}
	if d := maxDiff(got("latents_step3"), want("w16.final_latents")); d > 1e-5*27 {
		t.Errorf("micro: final latents differ by %.3g", d)
	}
	if d := maxDiff(got("pooled_uncond"), nn.New(1, 48)); d != 0 {
		t.Errorf("no -n: pooled_uncond is not zeros (%.3g)", d)
	}

	st = filepath.Join(dir, "empty")
	code, _, stderr = sdgo("-m", folder, "-p", prompt, "-n", "", "--timestep-spacing", "trailing",
		"--steps", "1", "--cfg-scale", "5", "--sampler", "euler", "-W", "32", "-H", "32",
		"-o", filepath.Join(dir, "empty.png"), "--dump-stages", st, "-q")
	if code != 0 {
		t.Fatalf("-n \"\": exit %d: %s", code, stderr)
	}
	got, want = stagesAndRef(t, st, filepath.Join(td, "text.safetensors"))
	if d := maxDiff(got("context_uncond"), want("w32.empty")); d > 1e-5 {
		t.Errorf("-n \"\": context_uncond differs from diffusers' encoding of \"\" by %.3g", d)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--original-size", "1024"}, "--original-size"},
		{[]string{"--crop-top-left", "a,b"}, "--crop-top-left"},
		{[]string{"--target-size", "0x5"}, "--target-size"},
		{[]string{"--timestep-spacing", "sideways"}, "--timestep-spacing"},
		{[]string{"--scheduler-config", filepath.Join(dir, "none.json")}, "--scheduler-config"},
	} {
		code, _, stderr := sdgo(append([]string{"-m", folder, "-p", "x", "-o", filepath.Join(dir, "bad.png")}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q, want an error naming %s", tc.args, code, stderr, tc.want)
		}
	}
}

// FuzzPair checks that no --original-size/--crop-top-left value panics and
// that accepted ones are in range.
func FuzzPair(f *testing.F) {
	for _, s := range []string{"1024x768", "0,0", "4, 8", "x", "-1x5", "99999999999999999999x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sep := range []string{"x", ","} {
			a, b, err := pair(s, sep)
			if err == nil && (a < 0 || b < 0 || a > 1<<16 || b > 1<<16) {
				t.Errorf("pair(%q, %q) = %d, %d", s, sep, a, b)
			}
		}
	})
}
