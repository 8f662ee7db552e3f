package main

import (
	"context"
	"fmt"
	fig "github.com/sdgo/sdgo/internal/figure"
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

	LoraFile   string   // the trained LoRA of the lora-trained figure
	LoraPrompt string   // its prompt
	LoraSeeds  []uint64 // its columns
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

		LoraFile:   filepath.Join("samples", "green-circle.safetensors"),
		LoraPrompt: "a green circle",
		LoraSeeds:  []uint64{1, 2, 3, 4, 5, 6, 7, 8},
	}
}

// gen holds what the figures are made from.
type gen struct {
	model  *pipeline.Model // nil: only the figures that need no model
	stages string          // a `sdgo --dump-stages` folder, or ""
	dir    string          // the model's folder, for figures that read its files (bind)
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
	{"schedule", false, func(g *gen) (image.Image, error) { return fig.Schedule(scheduler.SD15(), g.s.Steps) }},
	{"steps", true, func(g *gen) (image.Image, error) { return g.figSteps() }},
	{"attention", true, func(g *gen) (image.Image, error) { return g.figAttention() }},
	{"cfg", true, func(g *gen) (image.Image, error) { return g.figCFG() }},
	{"samplers", true, func(g *gen) (image.Image, error) { return g.figSamplers() }},
	{"lora", true, func(g *gen) (image.Image, error) { return g.figLora() }},
	{"lora-trained", true, func(g *gen) (image.Image, error) { return g.figLoraTrained() }},
	{"heldout", true, func(g *gen) (image.Image, error) { return g.figHeldOut() }},
	{"inpaint", true, func(g *gen) (image.Image, error) { return g.figInpaint() }},
	{"bind", true, func(g *gen) (image.Image, error) { return g.figBind() }},
	{"vae", true, func(g *gen) (image.Image, error) { return g.figVAE() }},
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

// latentPreview renders a latent (1, 4, h, w) as an h×w RGB picture.
func latentPreview(latents *nn.Tensor) image.Image { return vae.Preview(latents) }

// decode runs the VAE on a latent of the U-Net's scale (1, 4, h, w): the
// same drawing as the Explore page's x̂₀ (figure.Decoded).
func decode(m *vae.Model, latents *nn.Tensor) (image.Image, error) { return fig.Decoded(m, latents) }

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
	rows := [][]fig.Cell{{}, {}, {}}
	for i, l := range latents {
		rows[0] = append(rows[0], fig.Cell{Img: latentPreview(l), Label: labels[i]})
		if g.model == nil {
			continue
		}
		img, err := decode(g.model.VAE, l)
		if err != nil {
			return nil, err
		}
		rows[1] = append(rows[1], fig.Cell{Img: img, Label: labels[i]})
		if i < len(x0s) && x0s[i] != nil {
			if img, err = decode(g.model.VAE, x0s[i]); err != nil {
				return nil, err
			}
			rows[2] = append(rows[2], fig.Cell{Img: img, Label: labels[i]})
		} else if i < len(x0s) {
			rows[2] = append(rows[2], fig.Cell{Img: nil, Label: ""})
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
	return fig.Grid(rows, rowLabels, g.s.Side, title), nil
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
	attn := fig.NewCrossAttention(m.UNet, func() *nn.Tensor { return st.Tensor("context_cond") }, o.Height/f, o.Width/f)
	m.UNet.Trace = attn.Trace
	defer func() { m.UNet.Trace = nil }()
	o.Stages = st
	res, err := m.Generate(context.Background(), o)
	if err != nil {
		return nil, err
	}
	if attn.Err() != nil {
		return nil, attn.Err()
	}
	if attn.Layers() == 0 {
		return nil, fmt.Errorf("attention maps: the U-Net has no cross-attention")
	}
	final := res[0].Image
	cells := []fig.Cell{{Img: final, Label: "image"}}
	for i, t := range toks {
		// Context row 0 is the start token; the prompt's tokens follow.
		cells = append(cells, fig.Cell{Img: fig.Heatmap(attn.MapOf(1+i), attn.W, attn.H, final), Label: strings.TrimSuffix(t.Piece, "</w>")})
	}
	var rows [][]fig.Cell
	for len(cells) > 0 {
		k := min(len(cells), 6)
		rows = append(rows, cells[:k])
		cells = cells[k:]
	}
	return fig.Grid(rows, nil, g.s.Side, fmt.Sprintf("cross-attention per token: %q", g.s.Prompt)), nil
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

// figCFG generates the running example at each guidance scale of the sweep.
func (g *gen) figCFG() (image.Image, error) {
	var row []fig.Cell
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
		row = append(row, fig.Cell{Img: img, Label: label})
	}
	return fig.Grid([][]fig.Cell{row}, nil, g.s.Side, fmt.Sprintf("guidance scale sweep, %s, %d steps, seed %d", g.s.Sampler, g.s.Steps, g.s.Seed)), nil
}

// figSamplers generates the running example with each sampler of the
// comparison, same seed and step count.
func (g *gen) figSamplers() (image.Image, error) {
	var row []fig.Cell
	for _, name := range g.s.Samplers {
		o := g.s.options()
		o.Sampler = name
		img, _, err := g.generate(o)
		if err != nil {
			return nil, fmt.Errorf("sampler %s: %w", name, err)
		}
		row = append(row, fig.Cell{Img: img, Label: name})
	}
	return fig.Grid([][]fig.Cell{row}, nil, g.s.Side, fmt.Sprintf("samplers, %d steps, cfg %g, seed %d", g.s.Steps, g.s.CFG, g.s.Seed)), nil
}

// withNote returns img with note written in red on a strip below it.
func withNote(img image.Image, note string) image.Image {
	b := img.Bounds()
	out := fig.NewCanvas(max(b.Dx(), fig.TextWidth(note)+12), b.Dy()+fig.LineH+8)
	draw.Draw(out, b.Sub(b.Min), img, b.Min, draw.Src)
	fig.Text(out, 6, b.Dy()+3, note, color.RGBA{200, 0, 0, 255})
	return out
}
