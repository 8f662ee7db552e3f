package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// encode returns the (1, 77·k, D) conditioning of a prompt.
func encode(t *testing.T, m *Model, p string) *nn.Tensor {
	t.Helper()
	z, _, err := m.encodePrompt(p, 1)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// rowDiff returns, per token position, the largest |a − b| over the features.
func rowDiff(a, b *nn.Tensor) []float64 {
	d := a.Shape[2]
	out := make([]float64, a.Shape[1])
	for i := range out {
		for j := 0; j < d; j++ {
			out[i] = max(out[i], float64(abs32(a.Data[i*d+j]-b.Data[i*d+j])))
		}
	}
	return out
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestEmphasis(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	plain := encode(t, m, "a red circle")
	// Weight 1 written out is the plain prompt, exactly.
	if d := rowDiff(plain, encode(t, m, "a (red:1) circle")); maxOf(d) != 0 {
		t.Fatalf("(red:1) changed the context by %g", maxOf(d))
	}
	// (red:1.5) scales "red"'s row (position 2, after BOS and "a") by 1.5
	// before the mean is restored: that row moves most.
	d := rowDiff(plain, encode(t, m, "a (red:1.5) circle"))
	for i, v := range d {
		if i != 2 && v >= d[2] {
			t.Fatalf("row %d moved %g, more than the emphasised row's %g", i, v, d[2])
		}
	}
	// (red) = (red:1.1) and [red] = (red:1/1.1).
	if x := rowDiff(encode(t, m, "a (red) circle"), encode(t, m, "a (red:1.1) circle")); maxOf(x) > 1e-6 {
		t.Fatalf("(red) differs from (red:1.1) by %g", maxOf(x))
	}
	if x := rowDiff(encode(t, m, "a [red] circle"), encode(t, m, "a (red:0.9090909090909091) circle")); maxOf(x) > 1e-6 {
		t.Fatalf("[red] differs from (red:1/1.1) by %g", maxOf(x))
	}
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func TestLongPrompt(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	long := strings.Repeat("red circle ", 50) // 100 tokens: two chunks
	z := encode(t, m, long)
	if z.Shape[1] != 154 {
		t.Fatalf("long prompt context has %d tokens, want 154", z.Shape[1])
	}
	// The first chunk is the encoding of its own 75 tokens.
	first := encode(t, m, strings.Repeat("red circle ", 37)+"red")
	if d := rowDiff(nn.From(z.Data[:77*z.Shape[2]], 1, 77, z.Shape[2]), first); maxOf(d) > 1e-6 {
		t.Fatalf("first chunk differs by %g", maxOf(d))
	}
	// Guidance pads the shorter (empty) negative prompt to the same length.
	o, err := m.withDefaults(Options{Prompt: long, Width: 32, Height: 32})
	if err != nil {
		t.Fatal(err)
	}
	cond, uncond, err := m.conditioning(o)
	if err != nil {
		t.Fatal(err)
	}
	if cond.Shape[1] != 154 || uncond.Shape[1] != 154 {
		t.Fatalf("cond %v, uncond %v", cond.Shape, uncond.Shape)
	}
	// A whole generation with a long prompt runs.
	if _, err := m.Generate(context.Background(), Options{Prompt: long, Steps: 2, Width: 32, Height: 32}); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateOptions(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	base := Options{Prompt: "a cat", Steps: 3, Width: 32, Height: 32, Seed: 1, Sampler: "euler"}
	gen := func(o Options) *Stages {
		t.Helper()
		o.Stages = &Stages{}
		if _, err := m.Generate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		return o.Stages
	}
	cpu := gen(base)
	cuda := base
	cuda.RNG = CUDA
	if rowDiff(cpu.Tensor("latents_init").Reshape(1, 4, 256), gen(cuda).Tensor("latents_init").Reshape(1, 4, 256))[0] == 0 {
		t.Fatal("cuda and torch-cpu noise agree")
	}
	// Bad options are errors naming the setting.
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Width: 31, Height: 32}, "multiples of"},
		{Options{Width: 32, Height: 32, Sampler: "nope"}, "nope"},
		{Options{Width: 32, Height: 32, ClipSkip: 99}, "clip skip"},
		{Options{Width: 32, Height: 32, RNG: "gpu"}, "rng"},
	} {
		if _, err := m.Generate(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	// Cancellation stops between steps; progress reports every step.
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	o := base
	o.Steps = 10
	o.Progress = func(p Progress) {
		steps++
		if p.Step == 2 {
			cancel()
		}
	}
	if _, err := m.Generate(ctx, o); !errors.Is(err, context.Canceled) || steps != 2 {
		t.Fatalf("cancel: err %v after %d steps", err, steps)
	}
}

// A TAESD decoder given as Options.Decoder decodes the final latents.
func TestTAESDDecoder(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	f, err := weights.Open(testdata.Path(t, "taesd/random_arch/taesd_decoder.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := vae.LoadTinyDecoder(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Generate(context.Background(), Options{Prompt: "x", Steps: 2, Width: 32, Height: 32, Decoder: d})
	if err != nil {
		t.Fatal(err)
	}
	// The tiny VAE's latents are 16×16; TAESD upsamples ×8.
	if b := res[0].Image.Bounds(); b.Dx() != 128 || b.Dy() != 128 {
		t.Fatalf("TAESD image %v, want 128×128", b)
	}
}

// Sizes need only be multiples of the VAE's factor, as in diffusers: a
// latent that does not halve cleanly at every U-Net level (17×15 here, for
// the tiny model's ×2 VAE) runs, each upsampler taking its skip's size.
func TestLatentNotHalvingCleanly(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	f := m.VAEFactor()
	res, err := m.Generate(context.Background(), Options{Prompt: refPrompt, Width: 17 * f, Height: 15 * f, Steps: 2, Sampler: "euler", Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if b := res[0].Image.Bounds(); b.Dx() != 17*f || b.Dy() != 15*f {
		t.Errorf("image %v, want %dx%d", b, 17*f, 15*f)
	}
	if f > 1 {
		_, err := m.Generate(context.Background(), Options{Prompt: refPrompt, Width: 17*f + 1, Height: 15 * f, Steps: 1})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("multiples of %d", f)) {
			t.Errorf("width %d: err %v, want one asking for multiples of %d", 17*f+1, err, f)
		}
	}
}
