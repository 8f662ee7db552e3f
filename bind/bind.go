package bind

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/weights"
)

// Options are SynGen's settings. Zero values take the defaults.
type Options struct {
	// Scale is the step size α: the latent moves by −α·∂L/∂x on each
	// steered step (default 20, the reference implementation's
	// syngen_step_size).
	Scale float64
	// Until is the share of the steps that are steered, from the first
	// (default 0.5: SynGen's 25 of 50).
	Until float64
	// MaxSide picks the maps: every cross-attention layer whose map side
	// is the largest one not above MaxSide (default 16).
	MaxSide int
	// Groups, when set, replaces the groups parsed from the prompt: each
	// entry is one group's words, modifiers first and the noun last
	// ("red circle").
	Groups []string
}

func (o Options) withDefaults() Options {
	if o.Scale == 0 {
		o.Scale = 20
	}
	if o.Until == 0 {
		o.Until = 0.5
	}
	if o.MaxSide == 0 {
		o.MaxSide = 16
	}
	return o
}

// SynGen is a pipeline.Binder that steers generations with SynGen's loss.
// Its methods may be called from one generation at a time.
type SynGen struct {
	opts Options
	net  *sdmini.UNet
	mu   sync.Mutex
	// During a Steer: the maps side to record and the maps recorded.
	side int
	maps []*grad.Var
	// Losses holds the loss of every steered step of the last generation,
	// for figures and tests.
	Losses []float64
}

var _ pipeline.Binder = (*SynGen)(nil)

// New makes a SynGen binder for the U-Net of configuration cfg whose
// weights (diffusers names) src holds: a frozen copy of them in float32.
// The 1×1-convolution form of proj_in and proj_out (SD 1.x) loads as the
// linear form; the numbers are the same.
func New(src weights.Source, cfg unet.Config, o Options) (*SynGen, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.UseLinearProjection = true
	ps := grad.NewParams()
	net, err := sdmini.NewUNet(ps, rand.New(rand.NewPCG(0, 0)), cfg)
	if err != nil {
		return nil, err
	}
	if src != nil {
		if err := ps.LoadFrom(linearView{src}); err != nil {
			return nil, fmt.Errorf("bind: unet weights: %w", err)
		}
	}
	ps.Freeze()
	b := &SynGen{opts: o.withDefaults(), net: net}
	net.ProbeCrossAttention(b.probe)
	return b, nil
}

// Load makes a SynGen binder from a diffusers model folder's unet/.
func Load(dir string, o Options) (*SynGen, error) {
	src, closeFn, err := weights.OpenDiffusers(dir, "unet", false)
	if err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	defer closeFn()
	cfg, err := unet.ReadConfig(dir + "/unet/config.json")
	if err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	return New(src, cfg, o)
}

// probe records the head-averaged maps of the cross-attentions of side
// b.side.
func (b *SynGen) probe(tp *grad.Tape, q, k *grad.Var, heads, h, w int) {
	if h == b.side && w*h > 0 {
		b.maps = append(b.maps, tp.AttentionProbs(q, k, heads)) // (1, h·w, M)
	}
}

// mapSide is the side of the maps SynGen reads for a latent of side h:
// the largest cross-attention map side not above MaxSide (or the smallest
// there is).
func (b *SynGen) mapSide(h int) int {
	cfg := b.net.Config
	var sides []int
	for i, t := range cfg.DownBlockTypes {
		if t == unet.CrossAttnDownBlock2D {
			sides = append(sides, h>>i)
		}
	}
	sides = append(sides, h>>(cfg.Levels()-1)) // the mid block
	best, smallest := 0, math.MaxInt
	for _, s := range sides {
		if s <= b.opts.MaxSide && s > best {
			best = s
		}
		smallest = min(smallest, s)
	}
	if best == 0 {
		best = smallest
	}
	return best
}

// tokenGroups maps the prompt's groups to token positions in the
// encoder's 77 (BOS first), and lists the positions of all the prompt's
// tokens; words past the first chunk are left out.
func (b *SynGen) tokenGroups(m *pipeline.Model, prompt string) ([]tokenGroup, []int) {
	var groups []Group
	if len(b.opts.Groups) > 0 {
		for _, g := range b.opts.Groups {
			ws := strings.Fields(g)
			if len(ws) == 0 {
				continue
			}
			// Find the words in the prompt, in order.
			var starts []int
			at := 0
			for _, w := range ws {
				k := strings.Index(strings.ToLower(prompt[at:]), strings.ToLower(w))
				if k < 0 {
					starts = nil
					break
				}
				starts = append(starts, at+k)
				at += k + len(w)
			}
			if starts != nil {
				groups = append(groups, Group{Noun: ws[len(ws)-1], Modifiers: ws[:len(ws)-1], Starts: starts})
			}
		}
	} else {
		groups = ParseGroups(prompt)
	}
	toks := m.Tokenizer.EncodeWithSpans(prompt)
	pos := func(start int) int {
		for i, t := range toks {
			if t.End > start {
				if i+1 >= 76 {
					return -1
				}
				return i + 1 // after BOS
			}
		}
		return -1
	}
	var words []int
	for i := range toks {
		if i+1 < 76 {
			words = append(words, i+1)
		}
	}
	var out []tokenGroup
	for _, g := range groups {
		var tg tokenGroup
		for _, s := range g.Starts {
			if p := pos(s); p > 0 {
				tg = append(tg, p)
			}
		}
		if len(tg) > 0 {
			out = append(out, tg)
		}
	}
	return out, words
}

// Steer implements pipeline.Binder: in the first Until of the steps it
// returns −α·∂L/∂x for SynGen's loss L on the maps of the U-Net's input x.
func (b *SynGen) Steer(m *pipeline.Model, s pipeline.BindStep) (*nn.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.Step == 0 {
		b.Losses = b.Losses[:0]
	}
	if float64(s.Step) >= b.opts.Until*float64(s.Steps) {
		return nil, nil
	}
	groups, words := b.tokenGroups(m, s.Prompt)
	if len(groups) == 0 {
		return nil, nil
	}
	return b.steer(s, groups, words)
}

// steer is Steer for the token groups given, among the prompt's tokens at
// positions words.
func (b *SynGen) steer(s pipeline.BindStep, groups []tokenGroup, words []int) (*nn.Tensor, error) {
	if s.Input.Shape[1] != b.net.Config.InChannels {
		return nil, errors.New("the U-Net input has other channels than the binder's U-Net")
	}
	b.side = b.mapSide(s.Input.Shape[2])
	b.maps = b.maps[:0]
	tp := grad.NewTape()
	x := grad.Param(s.Input.Clone())                                                     // (1, C, h, w), the leaf steered
	ctx := grad.Const(nn.From(s.Cond.Data[:77*s.Cond.Shape[2]], 1, 77, s.Cond.Shape[2])) // the first chunk's tokens
	b.net.Forward(tp, x, []float32{float32(s.Timestep)}, ctx)
	if len(b.maps) == 0 {
		return nil, fmt.Errorf("no cross-attention maps of side %d", b.side)
	}
	agg := b.maps[0]
	for _, a := range b.maps[1:] {
		agg = tp.Add(agg, a)
	}
	agg = tp.Scale(agg, 1/float32(len(b.maps))) // (1, h·w, 77): the mean map of each token
	n, mt := agg.Shape()[1], agg.Shape()[2]
	loss, g := synGenLoss(agg.Value.Data, n, mt, groups, words)
	b.Losses = append(b.Losses, loss)
	tp.BackwardWith(agg, nn.From(g, agg.Shape()...))
	if x.Grad == nil {
		return nil, nil
	}
	alpha := float32(b.opts.Scale) // constant over the steered steps, as the reference's syngen_step_size
	d := x.Grad
	for i := range d.Data {
		d.Data[i] *= -alpha
	}
	b.maps = b.maps[:0]
	return d, nil
}

// Maps returns the mean cross-attention map of every token position (the
// maps SynGen reads: (h·w, 77) row-major, the side h = w as the second
// result) for the U-Net input x (1, C, h, w) at timestep t under the text
// embeddings cond (1, 77, D): for figures.
func (b *SynGen) Maps(x, cond *nn.Tensor, t float64) ([]float32, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.side = b.mapSide(x.Shape[2])
	b.maps = b.maps[:0]
	tp := grad.NewTape()
	b.net.Forward(tp, grad.Const(x), []float32{float32(t)}, grad.Const(cond))
	defer func() { b.maps = b.maps[:0] }()
	if len(b.maps) == 0 {
		return nil, b.side
	}
	out := make([]float32, b.maps[0].Value.Len())
	for _, a := range b.maps {
		for i, v := range a.Value.Data {
			out[i] += v / float32(len(b.maps))
		}
	}
	return out, b.side
}

// linearView reads a 1×1 convolution's (out, in, 1, 1) weight as the
// (out, in) matrix of the linear form.
type linearView struct{ weights.Source }

func (v linearView) Info(name string) (weights.Info, bool) {
	info, ok := v.Source.Info(name)
	if ok && len(info.Shape) == 4 && info.Shape[2] == 1 && info.Shape[3] == 1 && isProj(name) {
		info.Shape = info.Shape[:2]
	}
	return info, ok
}

func (v linearView) Tensor(name string) (*nn.Tensor, error) {
	t, err := v.Source.Tensor(name)
	if err == nil && len(t.Shape) == 4 && t.Shape[2] == 1 && t.Shape[3] == 1 && isProj(name) {
		t = nn.From(t.Data, t.Shape[0], t.Shape[1])
	}
	return t, err
}

func isProj(name string) bool {
	return strings.HasSuffix(name, "proj_in.weight") || strings.HasSuffix(name, "proj_out.weight")
}
