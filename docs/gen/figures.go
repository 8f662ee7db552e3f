package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/image/draw"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// setup is what every generated figure is made with.
type setup struct {
	Prompt, Negative string
	Seed             uint64
	Steps            int
	Size             int // image side in pixels; 0: the model's native size
	Sampler          string
	CFG              float64
	Side             int       // side of each picture in a grid, pixels
	Scales           []float64 // the CFG sweep
	Samplers         []string  // the sampler comparison
	Note             string    // printed under every figure made with the model, e.g. which model it was

	HeldOut sdmini.EvalOptions // the held-out grid's captions, seeds and sampling: `sdgo eval`'s
}

// defaultSetup is the walkthrough's running example.
func defaultSetup() setup {
	return setup{
		Prompt:   "a red circle above a blue square",
		Seed:     42,
		Steps:    20,
		Sampler:  "euler",
		CFG:      7.5,
		Side:     128,
		Scales:   []float64{1, 3, 5, 7.5, 12},
		Samplers: []string{"ddim", "pndm", "euler", "euler_a", "heun", "dpm++2m"},
		HeldOut:  evalDefaults(heldOutCols * 4),
	}
}

// gen holds what the figures are made from.
type gen struct {
	model  *pipeline.Model // nil: only the figures that need no model
	stages string          // a `sdgo --dump-stages` folder, or ""
	s      setup
}

// figure is one picture of the walkthrough, written to <Name>.png.
type figure struct {
	Name       string
	NeedsModel bool // made only when a model is given
	Make       func(g *gen) (image.Image, error)
}

// figures lists every figure the walkthrough shows.
var figures = []figure{
	{"schedule", false, func(g *gen) (image.Image, error) { return figSchedule(scheduler.SD15(), g.s.Steps) }},
	{"steps", true, func(g *gen) (image.Image, error) { return g.figSteps() }},
	{"attention", true, func(g *gen) (image.Image, error) { return g.figAttention() }},
	{"cfg", true, func(g *gen) (image.Image, error) { return g.figCFG() }},
	{"samplers", true, func(g *gen) (image.Image, error) { return g.figSamplers() }},
	{"heldout", true, func(g *gen) (image.Image, error) { return g.figHeldOut() }},
	{"inpaint", true, func(g *gen) (image.Image, error) { return g.figInpaint() }},
}

// options turns the setup into the pipeline's options.
func (s setup) options() pipeline.Options {
	return pipeline.Options{
		Prompt: s.Prompt, NegativePrompt: s.Negative, Width: s.Size, Height: s.Size,
		Steps: s.Steps, CFGScale: s.CFG, Seed: s.Seed, Sampler: s.Sampler,
	}
}

// generate makes one image with o, recording its stages.
func (g *gen) generate(o pipeline.Options) (*image.NRGBA, *pipeline.Stages, error) {
	st := &pipeline.Stages{}
	o.Stages = st
	res, err := g.model.Generate(context.Background(), o)
	if err != nil {
		return nil, nil, err
	}
	return res[0].Image, st, nil
}

// figSchedule plots SD's training noise schedule (scaled_linear βs): on the
// left ᾱₜ with the signal and noise coefficients √ᾱₜ and √(1−ᾱₜ) of
// q(xₜ | x₀); on the right σₜ = √((1−ᾱₜ)/ᾱₜ) on a log scale, with the σs
// Euler visits in `steps` steps, linear and Karras.
func figSchedule(cfg scheduler.Config, steps int) (image.Image, error) {
	sched, err := cfg.Schedule()
	if err != nil {
		return nil, err
	}
	T := len(sched.AlphasCumprod)
	var t, abar, sqrtA, sqrtN, sigma []float64
	for i, a := range sched.AlphasCumprod {
		a := float64(a)
		t = append(t, float64(i))
		abar = append(abar, a)
		sqrtA = append(sqrtA, math.Sqrt(a))
		sqrtN = append(sqrtN, math.Sqrt(1-a))
		sigma = append(sigma, math.Sqrt((1-a)/a))
	}
	left := plot{
		Title: "abar_t: the signal left at t", XLabel: "training timestep t",
		XMin: 0, XMax: float64(T), YMin: 0, YMax: 1,
		XTicks: []float64{0, 250, 500, 750, 1000}, YTicks: []float64{0, 0.25, 0.5, 0.75, 1},
		Series: []series{
			{Name: "abar_t", X: t, Y: abar, Color: palette[0]},
			{Name: "sqrt(abar_t)", X: t, Y: sqrtA, Color: palette[2]},
			{Name: "sqrt(1-abar_t)", X: t, Y: sqrtN, Color: palette[1]},
		},
	}
	right := plot{
		Title: "sigma_t = sqrt((1-abar_t)/abar_t)", XLabel: "training timestep t",
		XMin: 0, XMax: float64(T), YMin: 0.01, YMax: 30, LogY: true,
		XTicks: []float64{0, 250, 500, 750, 1000}, YTicks: []float64{0.01, 0.1, 1, 10},
		Series:     []series{{Name: "sigma_t", X: t, Y: sigma, Color: palette[0]}},
		LegendLeft: true,
	}
	perStep := plot{
		Title: fmt.Sprintf("the sigmas Euler visits in %d steps", steps), XLabel: "step i",
		XMin: 0, XMax: float64(steps), YMin: 0.01, YMax: 30, LogY: true,
		YTicks: []float64{0.01, 0.1, 1, 10},
	}
	for x := 0; x <= steps; x += max(1, steps/5) {
		perStep.XTicks = append(perStep.XTicks, float64(x))
	}
	for k, karras := range []bool{false, true} {
		s, err := scheduler.New("euler", cfg, karras)
		if err != nil {
			return nil, err
		}
		if err := s.SetTimesteps(steps); err != nil {
			return nil, err
		}
		name := "linear in t"
		if karras {
			name = "Karras"
		}
		ser := series{Name: name, Color: palette[3+k], Dots: true}
		for i, sig := range s.(*scheduler.Euler).Sigmas() {
			if sig > 0 { // the final 0 has no place on a log scale
				ser.X = append(ser.X, float64(i))
				ser.Y = append(ser.Y, float64(sig))
			}
		}
		perStep.Series = append(perStep.Series, ser)
	}
	img := newCanvas(1200, 320)
	left.draw(img, image.Rect(0, 0, 400, 320))
	right.draw(img, image.Rect(400, 0, 800, 320))
	perStep.draw(img, image.Rect(800, 0, 1200, 320))
	return img, nil
}

// latentPreview renders a latent (1, 4, h, w) as an h×w RGB picture.
func latentPreview(latents *nn.Tensor) image.Image { return vae.Preview(latents) }

// decode runs the VAE on a latent of the U-Net's scale (1, 4, h, w).
func decode(m *vae.Model, latents *nn.Tensor) (image.Image, error) {
	x, err := m.DecodeLatents(latents) // (1, 4, h, w) -> (1, 3, f·h, f·w)
	if err != nil {
		return nil, err
	}
	imgs, err := vae.ToImages(x)
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}

// pickSteps chooses at most n of the steps 0…total−1, evenly spaced, always
// with the last.
func pickSteps(total, n int) []int {
	if total <= n {
		out := make([]int, total)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for k := range n {
		out = append(out, int(math.Round(float64(k+1)*float64(total)/float64(n)))-1)
	}
	return out
}

// figSteps generates the running example with denoise and shows the latent
// before the first step and after a few others: as the RGB map of its
// channels, decoded by the VAE, and the sampler's estimate x̂₀ of the final
// latent at that step, decoded. With g.stages set it draws the latents of a
// `sdgo --dump-stages` run instead (decoding them when a model is given; a
// dump has no x̂₀).
func (g *gen) figSteps() (image.Image, error) {
	var latents, x0s []*nn.Tensor
	var labels []string
	switch {
	case g.stages != "":
		f, err := weights.Open(filepath.Join(g.stages, "stages.safetensors"))
		if err != nil {
			return nil, fmt.Errorf("-stages: %w", err)
		}
		defer f.Close()
		get := func(name string) (*nn.Tensor, error) { return f.Tensor(name) }
		if latents, labels, err = stepLatents(get, f.Names()); err != nil {
			return nil, fmt.Errorf("-stages %s: %w", g.stages, err)
		}
	default:
		var all, allX0 []*nn.Tensor // every step's latent and x̂₀ (small: one latent each)
		var first *nn.Tensor
		_, err := denoise(g.model, g.s, func(i int, l, x0 *nn.Tensor) {
			if i < 0 {
				first = clone(l)
				return
			}
			all, allX0 = append(all, clone(l)), append(allX0, clone(x0))
		})
		if err != nil {
			return nil, err
		}
		latents, x0s, labels = []*nn.Tensor{first}, []*nn.Tensor{nil}, []string{"x_T"}
		for _, i := range pickSteps(len(all), 6) {
			latents, x0s = append(latents, all[i]), append(x0s, allX0[i])
			labels = append(labels, fmt.Sprintf("step %d", i+1))
		}
	}
	rows := [][]cell{{}, {}, {}}
	for i, l := range latents {
		rows[0] = append(rows[0], cell{latentPreview(l), labels[i]})
		if g.model == nil {
			continue
		}
		img, err := decode(g.model.VAE, l)
		if err != nil {
			return nil, err
		}
		rows[1] = append(rows[1], cell{img, labels[i]})
		if i < len(x0s) && x0s[i] != nil {
			if img, err = decode(g.model.VAE, x0s[i]); err != nil {
				return nil, err
			}
			rows[2] = append(rows[2], cell{img, labels[i]})
		} else if i < len(x0s) {
			rows[2] = append(rows[2], cell{nil, ""})
		}
	}
	rowLabels := []string{"latent (RGB map)", "latent, decoded", "x0 estimate, decoded"}
	switch {
	case g.model == nil:
		rows, rowLabels = rows[:1], rowLabels[:1]
	case len(x0s) == 0:
		rows, rowLabels = rows[:2], rowLabels[:2]
	}
	title := "the latent after each step"
	if g.stages == "" {
		title = fmt.Sprintf("the latent after each step (%s, %d steps, cfg %g, seed %d)", g.s.Sampler, g.s.Steps, g.s.CFG, g.s.Seed)
	}
	return grid(rows, rowLabels, g.s.Side, title), nil
}

// clone copies a tensor.
func clone(t *nn.Tensor) *nn.Tensor {
	return nn.From(append([]float32(nil), t.Data...), t.Shape...)
}

// stepLatents reads latents_init and up to 6 of the latents_step<i> stages.
func stepLatents(get func(string) (*nn.Tensor, error), names []string) ([]*nn.Tensor, []string, error) {
	n := 0
	for _, name := range names {
		if i, err := strconv.Atoi(strings.TrimPrefix(name, "latents_step")); err == nil && strings.HasPrefix(name, "latents_step") {
			n = max(n, i+1)
		}
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("no latents_step<i> stages")
	}
	init, err := get("latents_init")
	if err != nil {
		return nil, nil, err
	}
	latents, labels := []*nn.Tensor{init}, []string{"x_T"}
	for _, i := range pickSteps(n, 6) {
		t, err := get(fmt.Sprintf("latents_step%d", i))
		if err != nil {
			return nil, nil, err
		}
		latents = append(latents, t)
		labels = append(labels, fmt.Sprintf("step %d", i+1))
	}
	return latents, labels, nil
}

// figAttention generates the running example with the U-Net's trace hooked
// and shows, for each token of the prompt, where the image's pixels attended
// to it (mean over steps, transformers and heads), over the final image.
func (g *gen) figAttention() (image.Image, error) {
	m := g.model
	if strings.ContainsAny(g.s.Prompt, "()[]") || strings.Contains(g.s.Prompt, "BREAK") {
		return nil, fmt.Errorf("attention maps: the prompt must be plain, without emphasis or BREAK: %q", g.s.Prompt)
	}
	toks := m.Tokenizer.EncodeWithSpans(g.s.Prompt)
	if len(toks) == 0 || len(toks) > 75 {
		return nil, fmt.Errorf("attention maps: the prompt must have 1 to 75 tokens, has %d", len(toks))
	}
	o := g.s.options()
	o, err := withSize(m, o)
	if err != nil {
		return nil, err
	}
	f := m.VAEFactor()
	st := &pipeline.Stages{}
	attn := newCrossAttention(m.UNet, func() *nn.Tensor { return st.Tensor("context_cond") }, o.Height/f, o.Width/f)
	m.UNet.Trace = attn.trace
	defer func() { m.UNet.Trace = nil }()
	o.Stages = st
	res, err := m.Generate(context.Background(), o)
	if err != nil {
		return nil, err
	}
	if attn.err != nil {
		return nil, attn.err
	}
	if attn.layers == 0 {
		return nil, fmt.Errorf("attention maps: the U-Net has no cross-attention")
	}
	final := res[0].Image
	cells := []cell{{final, "image"}}
	for i, t := range toks {
		// Context row 0 is the start token; the prompt's tokens follow.
		cells = append(cells, cell{heatmap(attn.mapOf(1+i), attn.w, attn.h, final), strings.TrimSuffix(t.Piece, "</w>")})
	}
	var rows [][]cell
	for len(cells) > 0 {
		k := min(len(cells), 6)
		rows = append(rows, cells[:k])
		cells = cells[k:]
	}
	return grid(rows, nil, g.s.Side, fmt.Sprintf("cross-attention per token: %q", g.s.Prompt)), nil
}

// withSize fills the image size the pipeline would pick.
func withSize(m *pipeline.Model, o pipeline.Options) (pipeline.Options, error) {
	if o.Width == 0 {
		o.Width = m.NativeSize()
	}
	if o.Height == 0 {
		o.Height = m.NativeSize()
	}
	if f := m.VAEFactor() * m.UNetFactor(); o.Width%f != 0 || o.Height%f != 0 {
		return o, fmt.Errorf("size %dx%d is not a multiple of %d", o.Width, o.Height, f)
	}
	return o, nil
}

// heatmap colours a w×h map of values (scaled to its own range) and lays it
// over a grey copy of under.
func heatmap(v []float64, w, h int, under image.Image) image.Image {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	b := under.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			val := v[((y-b.Min.Y)*h/b.Dy())*w+(x-b.Min.X)*w/b.Dx()]
			s := 0.0
			if hi > lo {
				s = (val - lo) / (hi - lo)
			}
			c := inferno(s)
			r, gg, bb, _ := under.At(x, y).RGBA()
			grey := (0.299*float64(r) + 0.587*float64(gg) + 0.114*float64(bb)) / 257
			mix := func(a uint8) uint8 { return uint8(0.35*grey + 0.65*float64(a)) }
			out.SetNRGBA(x, y, color.NRGBA{mix(c.R), mix(c.G), mix(c.B), 255})
		}
	}
	return out
}

// inferno maps s ∈ [0, 1] to a dark-to-bright colour (a few stops of
// matplotlib's "inferno", linearly interpolated).
func inferno(s float64) color.RGBA {
	stops := []color.RGBA{{0, 0, 4, 255}, {87, 16, 110, 255}, {188, 55, 84, 255}, {249, 142, 9, 255}, {252, 255, 164, 255}}
	s = math.Min(math.Max(s, 0), 1) * float64(len(stops)-1)
	i := min(int(s), len(stops)-2)
	f := s - float64(i)
	a, b := stops[i], stops[i+1]
	lerp := func(x, y uint8) uint8 { return uint8(float64(x) + f*(float64(y)-float64(x)) + 0.5) }
	return color.RGBA{lerp(a.R, b.R), lerp(a.G, b.G), lerp(a.B, b.B), 255}
}

// figCFG generates the running example at each guidance scale of the sweep.
func (g *gen) figCFG() (image.Image, error) {
	var row []cell
	for _, scale := range g.s.Scales {
		o := g.s.options()
		o.CFGScale = scale
		label := "g=" + strconv.FormatFloat(scale, 'g', -1, 64)
		if scale <= 1 {
			label += " (off)"
		}
		img, _, err := g.generate(o)
		if err != nil {
			return nil, fmt.Errorf("cfg %g: %w", scale, err)
		}
		row = append(row, cell{img, label})
	}
	return grid([][]cell{row}, nil, g.s.Side, fmt.Sprintf("guidance scale sweep, %s, %d steps, seed %d", g.s.Sampler, g.s.Steps, g.s.Seed)), nil
}

// figSamplers generates the running example with each sampler of the
// comparison, same seed and step count.
func (g *gen) figSamplers() (image.Image, error) {
	var row []cell
	for _, name := range g.s.Samplers {
		o := g.s.options()
		o.Sampler = name
		img, _, err := g.generate(o)
		if err != nil {
			return nil, fmt.Errorf("sampler %s: %w", name, err)
		}
		row = append(row, cell{img, name})
	}
	return grid([][]cell{row}, nil, g.s.Side, fmt.Sprintf("samplers, %d steps, cfg %g, seed %d", g.s.Steps, g.s.CFG, g.s.Seed)), nil
}

// withNote returns img with note written in red on a strip below it.
func withNote(img image.Image, note string) image.Image {
	b := img.Bounds()
	out := newCanvas(max(b.Dx(), textWidth(note)+12), b.Dy()+lineH+8)
	draw.Draw(out, b.Sub(b.Min), img, b.Min, draw.Src)
	text(out, 6, b.Dy()+3, note, color.RGBA{200, 0, 0, 255})
	return out
}

// scaleTo draws src into dst's rectangle r: nearest neighbour when
// enlarging (so small images show their pixels), bilinear when shrinking.
func scaleTo(dst draw.Image, r image.Rectangle, src image.Image) {
	if src.Bounds().Dx() < r.Dx() {
		draw.NearestNeighbor.Scale(dst, r, src, src.Bounds(), draw.Src, nil)
		return
	}
	draw.ApproxBiLinear.Scale(dst, r, src, src.Bounds(), draw.Src, nil)
}
