package figure

import (
	"fmt"
	"math"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/unet"
)

// CrossAttention collects the U-Net's cross-attention probabilities — how
// much each latent pixel's query attends to each token of the prompt — from
// the activations unet.Model.Trace reports, summed over every transformer,
// every step and every head, at the latent's resolution.
//
// The U-Net computes the probabilities inside nn.Attention and never keeps
// them, so they are recomputed here from what the trace gives, with the
// model's own layers (read-only):
//
//	x      = the resnet output traced just before the transformer ("down1.resnet0")
//	tokens = proj_in(toTokens(norm(x))) + attn1(…)        the block's input to attn2
//	q      = to_q(norm2(tokens))                         (1, N, C)
//	k      = to_k(context)                               (1, M, C)
//	p      = softmax(q·kᵀ/√(C/heads)) per head            (heads, N, M)
//
// Only the conditional half of a guided batch (index 1 of [uncond, cond]) is
// used, and only each transformer's first block (SD has one per transformer).
type CrossAttention struct {
	model   *unet.Model
	context func() *nn.Tensor // (1, M, D), the prompt's context; read on first use
	H, W    int               // latent size: every map is brought to it

	sum    [][]float64 // [token][pixel], (M, h·w)
	layers int         // transformer calls summed
	x      *nn.Tensor  // the last resnet output seen (1, C, H, W)
	err    error       // the first error met in the hook

	levels     []string               // U-Net levels seen ("down0", "mid", "up1", …), in order
	levelSum   map[string][][]float64 // per level: [token][pixel]
	levelCount map[string]int         // per level: transformer calls summed
}

// NewCrossAttention returns an empty collector for the U-Net m, whose
// prompt context context returns (1, M, D), for latents of h×w.
func NewCrossAttention(m *unet.Model, context func() *nn.Tensor, h, w int) *CrossAttention {
	return &CrossAttention{model: m, context: context, H: h, W: w}
}

// Err is the first error met while collecting, or nil.
func (a *CrossAttention) Err() error { return a.err }

// Layers is how many transformer calls were summed.
func (a *CrossAttention) Layers() int { return a.layers }

// Reset clears the sums (the per-level ones too), to collect afresh, such
// as one step at a time.
func (a *CrossAttention) Reset() {
	a.sum, a.layers, a.levels, a.levelSum, a.levelCount = nil, 0, nil, nil, nil
}

// Levels lists the U-Net levels whose transformers were seen, in the order
// the U-Net runs them: "down0", "down1", …, "mid", "up1", ….
func (a *CrossAttention) Levels() []string { return a.levels }

// LevelMapOf returns token t's map (h·w) at one level: the mean over that
// level's transformers (and the steps summed), or nil for an unseen level.
func (a *CrossAttention) LevelMapOf(level string, t int) []float64 {
	n := a.levelCount[level]
	if n == 0 || t >= len(a.levelSum[level]) {
		return nil
	}
	out := make([]float64, a.H*a.W)
	for i, v := range a.levelSum[level][t] {
		out[i] = v / float64(n)
	}
	return out
}

// Trace is the unet.Model.Trace hook.
func (a *CrossAttention) Trace(name string, t *nn.Tensor) {
	switch {
	case strings.Contains(name, ".resnet") && !strings.Contains(name, ".attn"):
		a.x = CondHalf(t)
	case strings.HasSuffix(name, ".tb0.attn1"):
		if err := a.add(strings.TrimSuffix(name, ".tb0.attn1"), CondHalf(t)); err != nil && a.err == nil {
			a.err = err // a hook cannot return it; Err reports it
		}
	}
}

// CondHalf returns a copy of the conditional sample of a (B, …) tensor:
// the second of a guided pair, else the first.
func CondHalf(t *nn.Tensor) *nn.Tensor {
	b := t.Shape[0]
	n := len(t.Data) / b
	i := 0
	if b == 2 {
		i = 1
	}
	shape := append([]int{1}, t.Shape[1:]...)
	return nn.From(append([]float32(nil), t.Data[i*n:(i+1)*n]...), shape...)
}

// Transformer finds the spatial transformer a trace name such as
// "down1.attn0", "mid.attn0" or "up2.attn1" refers to.
func Transformer(m *unet.Model, name string) (*unet.Transformer2D, error) {
	var i, j int
	if strings.HasPrefix(name, "mid.") {
		if _, err := fmt.Sscanf(name, "mid.attn%d", &j); err != nil || j >= len(m.MidBlock.Attentions) {
			return nil, fmt.Errorf("attention maps: no transformer %q", name)
		}
		return m.MidBlock.Attentions[j], nil
	}
	rest, down := strings.CutPrefix(name, "down")
	if !down {
		rest, _ = strings.CutPrefix(name, "up")
	}
	if n, err := fmt.Sscanf(rest, "%d.attn%d", &i, &j); err != nil || n != 2 {
		return nil, fmt.Errorf("attention maps: no transformer %q", name)
	}
	switch {
	case down && i < len(m.DownBlocks) && j < len(m.DownBlocks[i].Attentions):
		return m.DownBlocks[i].Attentions[j], nil
	case strings.HasPrefix(name, "up") && i < len(m.UpBlocks) && j < len(m.UpBlocks[i].Attentions):
		return m.UpBlocks[i].Attentions[j], nil
	}
	return nil, fmt.Errorf("attention maps: no transformer %q", name)
}

// add recomputes the cross-attention of the transformer called name, whose
// first block's self-attention returned attn1 (1, N, C), and adds it to the sums.
func (a *CrossAttention) add(name string, attn1 *nn.Tensor) error {
	tr, err := Transformer(a.model, name)
	if err != nil {
		return err
	}
	if a.x == nil {
		return fmt.Errorf("attention maps: %s: no resnet output before it", name)
	}
	ctx := a.context()
	if ctx == nil {
		return fmt.Errorf("attention maps: %s: no context recorded", name)
	}
	p := CrossProbs(tr, a.x, attn1, ctx) // (heads, N, M)
	heads, n, m := p.Shape[0], p.Shape[1], p.Shape[2]
	hh, ww := a.x.Shape[2], a.x.Shape[3]
	if a.sum == nil {
		a.sum = make([][]float64, m)
		for i := range a.sum {
			a.sum[i] = make([]float64, a.H*a.W)
		}
	}
	if m != len(a.sum) {
		return fmt.Errorf("attention maps: %s: context of %d tokens, want %d", name, m, len(a.sum))
	}
	level, _, _ := strings.Cut(name, ".")
	if a.levelSum == nil {
		a.levelSum, a.levelCount = map[string][][]float64{}, map[string]int{}
	}
	lsum := a.levelSum[level]
	if lsum == nil {
		lsum = make([][]float64, m)
		for i := range lsum {
			lsum[i] = make([]float64, a.H*a.W)
		}
		a.levelSum[level] = lsum
		a.levels = append(a.levels, level)
	}
	a.levelCount[level]++
	mean := make([]float32, n*m) // (N, M), averaged over heads
	for i, v := range p.Data {
		mean[i%(n*m)] += v / float32(heads)
	}
	// Bring the (H, W) map to the latent's (h, w) by repeating pixels.
	for y := range a.H {
		sy := y * hh / a.H
		for x := range a.W {
			row := mean[(sy*ww+x*ww/a.W)*m:]
			for t := range m {
				a.sum[t][y*a.W+x] += float64(row[t])
				lsum[t][y*a.W+x] += float64(row[t])
			}
		}
	}
	a.layers++
	return nil
}

// CrossProbs recomputes the cross-attention probabilities of the first
// block of the transformer tr: x (1, C, H, W) is the transformer's input,
// attn1 (1, H·W, C) what the block's self-attention returned, ctx (1, M, D)
// the text context. The result is (heads, H·W, M); each row sums to 1.
func CrossProbs(tr *unet.Transformer2D, x, attn1, ctx *nn.Tensor) *nn.Tensor {
	blk := tr.TransformerBlocks[0]
	tok := tr.ProjIn.Forward(tokens(tr.Norm.Forward(x))) // (1, C, H, W) -> (1, H·W, C)
	nn.AddInPlace(tok, attn1)                            // the residual stream after attn1
	q := blk.Attn2.ToQ.Forward(blk.Norm2.Forward(tok))   // (1, N, C)
	k := blk.Attn2.ToK.Forward(ctx)                      // (1, M, D) -> (1, M, C)
	n, c, m := q.Shape[1], q.Shape[2], k.Shape[1]
	heads := blk.Attn2.Heads
	dh := c / heads
	p := nn.New(heads, n, m)
	for h := range heads {
		// (N, Dh) · (M, Dh)ᵀ -> (N, M), then softmax over the tokens.
		nn.MatMul(false, true, n, m, dh, q.Data[h*dh:], c, k.Data[h*dh:], c, 0, p.Data[h*n*m:], m)
	}
	return nn.Softmax(nn.Scale(p, float32(1/math.Sqrt(float64(dh))))) // (heads, N, M)
}

// tokens turns an image (1, C, H, W) into its pixels' feature rows
// (1, H·W, C), row-major pixel order (as the U-Net's transformer does).
func tokens(x *nn.Tensor) *nn.Tensor {
	c, hw := x.Shape[1], x.Shape[2]*x.Shape[3]
	y := nn.New(1, hw, c)
	for ch := range c {
		for p := range hw {
			y.Data[p*c+ch] = x.Data[ch*hw+p]
		}
	}
	return y
}

// MapOf returns token t's map (h·w), the mean probability over the
// transformers and steps seen.
func (a *CrossAttention) MapOf(t int) []float64 {
	out := make([]float64, a.H*a.W)
	if a.layers == 0 || t >= len(a.sum) {
		return out
	}
	for i, v := range a.sum[t] {
		out[i] = v / float64(a.layers)
	}
	return out
}
