package main

import (
	"fmt"
	fig "github.com/sdgo/sdgo/internal/figure"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/shapes"
	"github.com/sdgo/sdgo/weights"
)

// loraPrompt is the lora figure's prompt (one sd-mini draws well, from
// samples/), and loraEdit the word its adapter re-targets and the word it
// makes the U-Net see instead.
const loraPrompt = "a red circle on the left"

var loraEdit = [2]string{"red", "green"}

// figLora draws loraPrompt with a LoRA at multipliers 0 … 1. The
// LoRA is not trained: it is solved in closed form on the cross-attention
// keys and values (attn2.to_k, attn2.to_v) of every spatial transformer —
// the layers through which the text reaches the image — so that the
// prompt's context C (D × 77, the text encoder's output) gives the keys and
// values of the prompt with loraEdit's first word replaced by its second,
// C'. Each layer W gets the least-squares change with ΔW·C = W·(C' − C),
// ridge-regularised:
//
//	up = W·(C' − C)·(CᵀC + λI)⁻¹   (out, 77)     down = Cᵀ   (77, D)
//
// a rank-77 LoRA. At multiplier m the keys and values this prompt gives
// move the fraction m of the way to those of the edited prompt; the text
// encoder is untouched.
func (g *gen) figLora() (image.Image, error) {
	m := g.model
	from, to := loraEdit[0], loraEdit[1]
	prompt := loraPrompt
	if !strings.Contains(" "+prompt+" ", " "+from+" ") {
		return nil, fmt.Errorf("the prompt %q has no word %q to edit", prompt, from)
	}
	ctx, err := promptContext(m, prompt) // (77, D)
	if err != nil {
		return nil, err
	}
	ctx2, err := promptContext(m, strings.Replace(prompt, from, to, 1))
	if err != nil {
		return nil, err
	}
	l, d := ctx.Shape[0], ctx.Shape[1]
	// A = (CᵀC + λI)⁻¹ (l × l), by Gauss-Jordan in float64.
	gram := make([]float64, l*l)
	trace := 0.0
	for i := range l {
		for j := range l {
			s := 0.0
			for k := range d {
				s += float64(ctx.Data[i*d+k]) * float64(ctx.Data[j*d+k])
			}
			gram[i*l+j] = s
		}
		trace += gram[i*l+i]
	}
	for i := range l {
		gram[i*l+i] += 1e-4 * trace / float64(l)
	}
	inv, err := invert(gram, l)
	if err != nil {
		return nil, err
	}
	diff := nn.New(l, d) // (C' − C)ᵀ: (77, D)
	for i := range diff.Data {
		diff.Data[i] = ctx2.Data[i] - ctx.Data[i]
	}
	invT := nn.New(l, l)
	for i, v := range inv {
		invT.Data[i] = float32(v)
	}
	var names []string
	for n := range m.UNet.Weights {
		if strings.HasSuffix(n, "attn2.to_k.weight") || strings.HasSuffix(n, "attn2.to_v.weight") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var entries []weights.Entry
	under := strings.NewReplacer(".", "_")
	for _, n := range names {
		w := m.UNet.Weights[n]                     // (out, D)
		wd := nn.Linear(diff, w, nil)              // (77, D) -> (77, out): (W·(C' − C))ᵀ
		upT := nn.Linear(invT, transpose(wd), nil) // (CᵀC + λI)⁻¹·(W·(C' − C))ᵀ = upᵀ: (77, out)
		up := transpose(upT)                       // (out, 77)
		key := "lora_unet_" + under.Replace(strings.TrimSuffix(n, ".weight"))
		entries = append(entries,
			weights.Entry{Name: key + ".lora_down.weight", DType: weights.F32, Shape: []int{l, d}, Float: ctx.Data},
			weights.Entry{Name: key + ".lora_up.weight", DType: weights.F32, Shape: up.Shape, Float: up.Data})
	}
	dir, err := os.MkdirTemp("", "sdgo-lora-fig-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, from+"2"+to+".safetensors")
	if err := weights.Write(path, entries, nil, false); err != nil {
		return nil, err
	}
	var row []fig.Cell
	for _, w := range []float64{0, 0.25, 0.5, 0.75, 1} {
		o := g.s.options()
		o.Prompt = prompt
		o.Loras = []pipeline.LoraFile{{Path: path, Multiplier: w}}
		img, _, err := g.generate(o)
		if err != nil {
			return nil, fmt.Errorf("lora %g: %w", w, err)
		}
		row = append(row, fig.Cell{Img: img, Label: fmt.Sprintf("W = %g", w)})
	}
	title := fmt.Sprintf("%q, LoRA %s->%s on attn2.to_k/to_v at W", prompt, from, to)
	return fig.Grid([][]fig.Cell{row}, nil, g.s.Side, title), nil
}

// transpose returns the transpose of a matrix (r, c) -> (c, r).
func transpose(t *nn.Tensor) *nn.Tensor {
	r, c := t.Shape[0], t.Shape[1]
	out := nn.New(c, r)
	for i := range r {
		for j := range c {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out
}

// invert inverts the n×n matrix a (row-major) by Gauss-Jordan elimination
// with partial pivoting.
func invert(a []float64, n int) ([]float64, error) {
	m := append([]float64(nil), a...)
	inv := make([]float64, n*n)
	for i := range n {
		inv[i*n+i] = 1
	}
	for col := range n {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(m[r*n+col]) > math.Abs(m[p*n+col]) {
				p = r
			}
		}
		if m[p*n+col] == 0 {
			return nil, fmt.Errorf("singular matrix")
		}
		for k := range n {
			m[col*n+k], m[p*n+k] = m[p*n+k], m[col*n+k]
			inv[col*n+k], inv[p*n+k] = inv[p*n+k], inv[col*n+k]
		}
		f := 1 / m[col*n+col]
		for k := range n {
			m[col*n+k] *= f
			inv[col*n+k] *= f
		}
		for r := range n {
			if r == col || m[r*n+col] == 0 {
				continue
			}
			f := m[r*n+col]
			for k := range n {
				m[r*n+k] -= f * m[col*n+k]
				inv[r*n+k] -= f * inv[col*n+k]
			}
		}
	}
	return inv, nil
}

// promptContext returns the text encoder's output for prompt: (77, D).
func promptContext(m *pipeline.Model, prompt string) (*nn.Tensor, error) {
	ids := m.Tokenizer.EncodePadded(prompt, 77, m.Pad)
	ctx, err := m.Text.Encode([][]int{ids}, clip.EncodeOptions{}) // (1, 77, D)
	if err != nil {
		return nil, err
	}
	return nn.From(ctx.Data, ctx.Shape[1], ctx.Shape[2]), nil
}

// loraTrainedWeights are the multipliers of the trained-LoRA figure's rows.
var loraTrainedWeights = []float64{0, 0.5, 1}

// figLoraTrained draws the trained sample LoRA (setup.LoraFile, by default
// samples/green-circle.safetensors, made by `sdgo train lora`) on its
// prompt (setup.LoraPrompt) at the multipliers loraTrainedWeights, one row
// each, for the seeds setup.LoraSeeds: the same starting noise in every
// column, so each column shows what the LoRA changes in one image. Each
// picture is labelled with its seed and with what the shapes package's
// pixel scorer reads there: the kind of the largest shape and, for a
// circle, "round" when its squareness (Found.Corners) is under
// loraRoundCorners.
func (g *gen) figLoraTrained() (image.Image, error) {
	if g.s.LoraFile == "" {
		return nil, fmt.Errorf("no LoRA file (-lora-file)")
	}
	var rows [][]fig.Cell
	var labels []string
	for _, w := range loraTrainedWeights {
		var row []fig.Cell
		for _, seed := range g.s.LoraSeeds {
			o := g.s.options()
			o.Prompt, o.Seed = g.s.LoraPrompt, seed
			if w != 0 {
				o.Loras = []pipeline.LoraFile{{Path: g.s.LoraFile, Multiplier: w}}
			}
			img, _, err := g.generate(o)
			if err != nil {
				return nil, fmt.Errorf("lora-trained W = %g, seed %d: %w", w, seed, err)
			}
			row = append(row, fig.Cell{Img: img, Label: fmt.Sprintf("%d: %s", seed, roundness(img))})
		}
		rows = append(rows, row)
		labels = append(labels, fmt.Sprintf("W = %g", w))
	}
	title := fmt.Sprintf("%q with %s at W (columns: seeds; labels: what the scorer reads)", g.s.LoraPrompt, filepath.Base(g.s.LoraFile))
	return fig.Grid(rows, labels, g.s.Side, title), nil
}

// loraRoundCorners is the squareness (shapes.Found.Corners) under which the
// trained-LoRA figure calls a circle round: a drawn circle reads within
// ±0.0003 and a drawn square at 0.017, while the shapes package's own
// threshold (0.007) counts sd-mini's rounded small squares, which read
// 0.005–0.009, as circles.
const loraRoundCorners = 0.003

// roundness names the largest shape the scorer finds in img: "round" for a
// circle with squareness under loraRoundCorners, else its kind.
func roundness(img image.Image) string {
	rd := shapes.Read(img)
	if len(rd.Found) == 0 {
		return "none"
	}
	f := rd.Found[0]
	if f.Kind == shapes.Circle && f.Corners < loraRoundCorners {
		return "round"
	}
	if f.Kind == shapes.Circle {
		return "squarish"
	}
	return f.Kind.String()
}
