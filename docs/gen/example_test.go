package main

// The walkthrough's code. Each Example is compiled by `go test`, and those
// with an Output comment are run and checked; docs_test.go checks that every
// Go snippet in the docs is copied from one of them (or from another
// package's Example) line for line.

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// The first stages by hand: a prompt becomes 77 ids, the ids become the
// context. (Needs a model folder; compiled, not run.)
func Example_tokensToContext() {
	m, err := pipeline.Load("sd-mini", pipeline.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	prompt := "a red circle above a blue square"
	for _, t := range m.Tokenizer.EncodeWithSpans(prompt) {
		fmt.Printf("%-14s %5d  %q\n", t.Piece, t.ID, prompt[t.Start:t.End])
	}
	ids := m.Tokenizer.EncodePadded(prompt, tokenizer.ContextLength, m.Pad) // 77 ids: BOS, prompt, EOS, padding
	ctx, err := m.Text.Encode([][]int{ids}, clip.EncodeOptions{})           // (1, 77) -> (1, 77, 768)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ctx.Shape)
}

// QuickGELU, CLIP's activation x·σ(1.702·x), next to the exact GELU.
func Example_quickGELU() {
	x := []float32{-2, -1, 0, 1, 2}
	q := nn.QuickGELU(nn.From(append([]float32(nil), x...), len(x)))
	g := nn.GELU(nn.From(append([]float32(nil), x...), len(x)))
	fmt.Printf("QuickGELU %.4f\n", q.Data)
	fmt.Printf("GELU      %.4f\n", g.Data)
	// Output:
	// QuickGELU [-0.0643 -0.1542 0.0000 0.8458 1.9357]
	// GELU      [-0.0455 -0.1587 0.0000 0.8413 1.9545]
}

// The timestep's sinusoidal features, as the U-Net's time_proj computes
// them (SD: flip_sin_to_cos, no frequency shift): cosines first, then sines,
// from the fastest frequency to the slowest.
func Example_timestepFeatures() {
	f := nn.TimestepEmbedding([]float32{0, 999}, 8, true, 0, 10000) // (2) -> (2, 8)
	fmt.Printf("t=0:   %.3f\n", f.Data[:8])
	fmt.Printf("t=999: %.3f\n", f.Data[8:])
	// Output:
	// t=0:   [1.000 1.000 1.000 1.000 0.000 0.000 0.000 0.000]
	// t=999: [1.000 0.807 -0.844 0.541 -0.026 -0.590 -0.536 0.841]
}

// The forward process in closed form: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, at a few t.
func Example_forwardNoising() {
	sched, err := scheduler.SD15().Schedule()
	if err != nil {
		panic(err)
	}
	x0 := []float32{1}  // one latent value
	eps := []float32{0} // and the noise drawn for it
	xt := make([]float32, 1)
	for _, t := range []int{0, 250, 500, 750, 999} {
		if err := sched.AddNoise(xt, x0, eps, t); err != nil {
			panic(err)
		}
		abar := float64(sched.AlphasCumprod[t])
		fmt.Printf("t=%3d  ᾱ=%.4f  √ᾱ=%.4f  √(1−ᾱ)=%.4f  σ=%.3f\n", t, abar, xt[0], math.Sqrt(1-abar), math.Sqrt((1-abar)/abar))
	}
	// Output:
	// t=  0  ᾱ=0.9991  √ᾱ=0.9996  √(1−ᾱ)=0.0292  σ=0.029
	// t=250  ᾱ=0.6738  √ᾱ=0.8208  √(1−ᾱ)=0.5711  σ=0.696
	// t=500  ᾱ=0.2763  √ᾱ=0.5257  √(1−ᾱ)=0.8507  σ=1.618
	// t=750  ᾱ=0.0562  √ᾱ=0.2370  √(1−ᾱ)=0.9715  σ=4.099
	// t=999  ᾱ=0.0047  √ᾱ=0.0683  √(1−ᾱ)=0.9977  σ=14.615
}

// fakeUNet is a stand-in for the U-Net in the sampling examples: it "predicts"
// the noise ε̂ = 0.5·x + 0.1.
func fakeUNet(in []float32) []float32 {
	out := make([]float32, len(in))
	for i, v := range in {
		out[i] = 0.5*v + 0.1
	}
	return out
}

// constant is a scheduler.Noise that always draws the same value.
type constant float32

func (c constant) Normal(dst []float32) {
	for i := range dst {
		dst[i] = float32(c)
	}
}

// DDPM's reverse step, by hand and by the scheduler: x̂₀ from ε̂, then the
// posterior mean plus σ·z.
func Example_ddpmStep() {
	s, err := scheduler.New("ddpm", scheduler.SD15(), false)
	if err != nil {
		panic(err)
	}
	if err := s.SetTimesteps(4); err != nil {
		panic(err)
	}
	abar := s.(*scheduler.DDPM).Schedule().AlphasCumprod
	t, tPrev := int(s.Timesteps()[0]), int(s.Timesteps()[1]) // 751 → 501
	x := []float32{1.5}
	eps := fakeUNet(x)
	z := float32(0.3)

	// By hand, in float64 (formulas (15), (6) and (7) of Ho et al.).
	at, ap := float64(abar[t]), float64(abar[tPrev])
	beta := 1 - at/ap // the β of a strided step
	x0 := (float64(x[0]) - math.Sqrt(1-at)*float64(eps[0])) / math.Sqrt(at)
	mean := math.Sqrt(ap)*beta/(1-at)*x0 + math.Sqrt(1-beta)*(1-ap)/(1-at)*float64(x[0])
	sigma := math.Sqrt((1 - ap) / (1 - at) * beta)
	fmt.Printf("t %d -> %d: x̂₀ = %.4f, x' = %.4f\n", t, tPrev, x0, mean+sigma*float64(z))

	// The scheduler.
	if _, err := s.Step(0, eps, x, constant(z)); err != nil {
		panic(err)
	}
	fmt.Printf("scheduler.DDPM: x' = %.4f\n", x[0])
	// Output:
	// t 751 -> 501: x̂₀ = 2.8554, x' = 2.0176
	// scheduler.DDPM: x' = 2.0176
}

// Euler in σ space: x_{i+1} = x_i + (σ_{i+1} − σ_i)·(x_i − x̂₀)/σ_i, with
// the U-Net fed x_i/√(σ_i²+1).
func Example_eulerStep() {
	s, err := scheduler.New("euler", scheduler.SD15(), false)
	if err != nil {
		panic(err)
	}
	if err := s.SetTimesteps(4); err != nil {
		panic(err)
	}
	sigmas := s.(*scheduler.Euler).Sigmas()
	x := []float32{float32(s.InitNoiseSigma()) * 0.8} // x_T·σ_max
	for i := range s.Timesteps() {
		in := make([]float32, 1)
		if err := s.ScaleModelInput(i, in, x); err != nil { // in = x/√(σ²+1)
			panic(err)
		}
		eps := fakeUNet(in)
		sig, next := float64(sigmas[i]), float64(sigmas[i+1])
		x0 := float64(x[0]) - sig*float64(eps[0]) // x̂₀ = x − σ·ε̂
		byHand := float64(x[0]) + (next-sig)*(float64(x[0])-x0)/sig
		if _, err := s.Step(i, eps, x, nil); err != nil {
			panic(err)
		}
		fmt.Printf("σ %7.4f -> %6.4f: by hand %8.4f, scheduler.Euler %8.4f\n", sig, next, byHand, x[0])
	}
	// Output:
	// σ 14.6146 -> 2.9183: by hand   5.8545, scheduler.Euler   5.8545
	// σ  2.9183 -> 0.9324: by hand   3.7714, scheduler.Euler   3.7714
	// σ  0.9324 -> 0.0292: by hand   2.4354, scheduler.Euler   2.4354
	// σ  0.0292 -> 0.0000: by hand   2.3970, scheduler.Euler   2.3970
}

// Classifier-free guidance: one U-Net call on the batch [uncond, cond], then
// ε = ε_u + g·(ε_c − ε_u), as pipeline's sampling loop does.
func Example_guidance() {
	epsU := []float32{0.10, -0.20, 0.30} // the prediction for the negative prompt
	epsC := []float32{0.12, -0.25, 0.30} // and for the prompt
	for _, g := range []float32{1, 7.5} {
		eps := make([]float32, len(epsU))
		for j := range eps {
			eps[j] = epsU[j] + g*(epsC[j]-epsU[j])
		}
		fmt.Printf("g=%.1f: %.3f\n", g, eps)
	}
	// Output:
	// g=1.0: [0.120 -0.250 0.300]
	// g=7.5: [0.250 -0.575 0.300]
}

// The whole pipeline with every stage recorded, as `sdgo --dump-stages DIR`
// does. (Needs a model folder; compiled, not run.)
func Example_generate() {
	m, err := pipeline.Load("sd-mini", pipeline.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	stages := &pipeline.Stages{}
	res, err := m.Generate(context.Background(), pipeline.Options{
		Prompt:  "a red circle above a blue square",
		Steps:   20,
		Sampler: "euler",
		Seed:    42,
		Stages:  stages,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(stages.Names()) // ids_cond context_cond ids_uncond context_uncond latents_init latents_step0 … image
	if err := pipeline.WritePNG("astronaut.png", res[0].Image, res[0].Parameters, false); err != nil {
		fmt.Println(err)
	}
}

// Reading what `sdgo --dump-stages out` wrote, and decoding a latent
// mid-way. (Needs a dump and a model; compiled, not run.)
func Example_readStages() {
	f, err := weights.Open("out/stages.safetensors")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	ids, _, err := f.Int64s("ids_cond") // (1, 77)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ids[:10])
	latents, err := f.Tensor("latents_step9") // (1, 4, 64, 64) after the 10th step
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := pipeline.Load("sd-mini", pipeline.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	x, err := m.VAE.DecodeLatents(latents) // latents/0.18215 -> decoder: (1, 3, 512, 512) in ≈[-1, 1]
	if err != nil {
		fmt.Println(err)
		return
	}
	imgs, err := vae.ToImages(x) // (x/2 + 0.5)·255, rounded half to even
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := vae.WritePNG("step10.png", imgs[0]); err != nil {
		fmt.Println(err)
	}
}

// Watching the U-Net from outside: unet.Model.Trace receives every block's
// output by name. (Needs a model; compiled, not run.)
func Example_trace() {
	m, err := pipeline.Load("sd-mini", pipeline.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	m.UNet.Trace = func(name string, t *nn.Tensor) {
		if !strings.Contains(name, ".tb") { // skip the transformer blocks' insides
			fmt.Println(name, t.Shape) // e.g. down1.attn0 [2 640 32 32]
		}
	}
	_, err = m.Generate(context.Background(), pipeline.Options{Prompt: "a cat", Steps: 1})
	if err != nil {
		fmt.Println(err)
	}
}
