package sdmini

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/grad/layers"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
	"github.com/sdgo/sdgo/weights"
)

// saltLoRA separates the LoRA stage's random streams from the others'.
const saltLoRA = 0x10a

// LoRAOptions are the settings of TrainLoRA.
type LoRAOptions struct {
	Model   string // a trained sd-mini model folder (sdmini.Path for the built-in one)
	Out     string // the LoRA file to write (kohya-ss format, .safetensors)
	Concept string // the caption of the scenes to learn, "a green circle": one object, its colour and kind (size and place if named: "a large green circle")
	Rank    int    // LoRA rank (default 4)
	Steps   int    // optimizer steps (default 300)
	Batch   int    // samples per step (default 8)
	LR      float64
	Seed    uint64
	Scenes  int // concept scenes encoded up front (default 64)
	// Prior is the share of each batch taken from ordinary training scenes
	// (any shapes, with their own captions) instead of the concept's: prior
	// preservation, so that the factors learn what the concept's captions
	// need and leave other prompts as the model draws them (default 0).
	Prior float64
	Log   io.Writer
}

// loraTarget is one linear layer of the U-Net that the LoRA changes.
type loraTarget struct {
	name     string         // its module name, "down_blocks.0.attentions.0.proj_in"
	layer    *layers.Linear // the U-Net's layer, whose Weight each step replaces
	base     *nn.Tensor     // the trained weight (out, in), frozen
	up, down *grad.Var      // (out, r), (r, in)
}

// TrainLoRA fine-tunes a LoRA of the U-Net of an sd-mini model on scenes of
// one concept (one object of the concept's colour and kind, at any size,
// place and background), as kohya-ss's scripts fine-tune Stable Diffusion:
// every linear layer of the spatial transformers gets W + up·down with up
// starting at zero (so training starts from the model itself), the model's
// weights stay frozen, and the loss is the U-Net stage's (ε-prediction,
// Min-SNR-5). It writes o.Out in kohya-ss's format with alpha = rank
// (scale 1), which `sdgo --lora` and <lora:NAME:W> read. With o.Prior > 0
// that share of every batch is ordinary training scenes (prior
// preservation, as DreamBooth does with the model's own class images).
func TrainLoRA(o LoRAOptions) error {
	if o.Rank == 0 {
		o.Rank = 4
	}
	if o.Steps == 0 {
		o.Steps = 300
	}
	if o.Batch == 0 {
		o.Batch = 8
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.Scenes == 0 {
		o.Scenes = 64
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	spec, err := shapes.ParseCaption(o.Concept)
	if err != nil || len(spec.Objects) != 1 {
		return fmt.Errorf("sdmini: lora concept %q: want one object, such as \"a green circle\" (%v)", o.Concept, err)
	}
	want := spec.Objects[0]
	if o.Prior < 0 || o.Prior >= 1 || math.IsNaN(o.Prior) {
		return fmt.Errorf("sdmini: lora: prior share %g not in [0, 1)", o.Prior)
	}
	tok, err := loadTokenizer(o.Model)
	if err != nil {
		return err
	}
	text, err := loadTextEncoder(o.Model)
	if err != nil {
		return err
	}
	v, err := loadVAE(o.Model)
	if err != nil {
		return err
	}
	schedCfg := SchedulerConfig()
	sched, err := schedCfg.Schedule()
	if err != nil {
		return err
	}

	// The concept's scenes: drawn from the training distribution, kept when
	// their one shape has the concept's colour and kind (and its size and
	// place, if it names them), encoded to latents.
	r := rand.New(rand.NewPCG(o.Seed, saltLoRA))
	pool := &latentPool{}
	for tries := 0; len(pool.scenes) < o.Scenes; tries++ {
		if tries > 50000 {
			return fmt.Errorf("sdmini: lora concept %q: too few training scenes show it", o.Concept)
		}
		s := shapes.Sample(r, shapes.Train)
		if len(s.Shapes) != 1 || s.Shapes[0].Kind != want.Kind || s.Shapes[0].Colour != want.Colour ||
			want.Size != shapes.AnySize && s.Shapes[0].Size != want.Size || want.Pos != shapes.AnyPos && s.Shapes[0].Pos != want.Pos {
			continue
		}
		img := nn.From(shapes.ToTensor(nil, s.Render(ImageSize)), 1, 3, ImageSize, ImageSize)
		d, err := v.Encode(img)
		if err != nil {
			return err
		}
		pool.size = d.Mean.Len()
		pool.latents = append(pool.latents, v.Scale(d.Mean).Data...) // (1, C, 8, 8), the U-Net's scale
		pool.scenes = append(pool.scenes, s)
	}
	fmt.Fprintf(o.Log, "lora: %d scenes of %q encoded\n", len(pool.scenes), o.Concept)
	nPrior := int(math.Round(o.Prior * float64(o.Batch)))
	var prior *latentPool
	if nPrior > 0 {
		if prior, err = encodePool(v, r, o.Scenes, shapes.Recipe{}); err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "lora: %d ordinary scenes encoded, %d of each batch of %d\n", len(prior.scenes), nPrior, o.Batch)
	}

	// The trained U-Net, frozen.
	cfg := UNetConfig()
	cfg.CrossAttentionDim = text.Config.Width
	cfg.InChannels, cfg.OutChannels = v.Config.LatentChannels, v.Config.LatentChannels
	base := grad.NewParams()
	m, err := NewUNet(base, rand.New(rand.NewPCG(o.Seed, saltLoRA+1)), cfg)
	if err != nil {
		return err
	}
	f, err := weights.Open(filepath.Join(o.Model, unetWeights))
	if err != nil {
		return fmt.Errorf("sdmini: lora: %w", err)
	}
	err = base.LoadFrom(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("sdmini: lora: %w", err)
	}

	// The LoRA's factors, the only parameters trained.
	ps := grad.NewParams()
	names := map[*grad.Var]string{}
	for _, n := range base.Names() {
		names[base.Get(n)] = strings.TrimSuffix(n, ".weight")
	}
	var targets []*loraTarget
	for _, l := range m.transformerLinears() {
		out, in := l.Weight.Shape()[0], l.Weight.Shape()[1]
		t := &loraTarget{name: names[l.Weight], layer: l, base: l.Weight.Value}
		down := nn.New(o.Rank, in)
		for i := range down.Data {
			down.Data[i] = float32(r.NormFloat64() / math.Sqrt(float64(in)))
		}
		t.down = ps.Add(t.name+".lora_down.weight", down)
		t.up = ps.Add(t.name+".lora_up.weight", nn.New(out, o.Rank))
		targets = append(targets, t)
	}

	n := pool.size
	tr := &trainer{
		name: "lora", ps: ps, opt: grad.NewAdamW(ps, o.LR), salt: saltLoRA,
		o: Options{Dir: filepath.Dir(o.Out), Steps: o.Steps, Batch: o.Batch, LR: o.LR, Seed: o.Seed, CheckpointEvery: o.Steps, LogEvery: 20, Log: o.Log},
	}
	tr.opt.NoDecay = func(string) bool { return true }
	tr.step = func(tp *grad.Tape, r *rand.Rand) *grad.Var {
		for _, t := range targets { // W = W₀ + up·down, W₀ frozen
			t.layer.Weight = tp.Add(grad.Const(t.base), tp.MatMul(t.up, t.down, false, false))
		}
		x := nn.New(o.Batch, cfg.InChannels, ImageSize/8, ImageSize/8) // xₜ (B, 4, 8, 8)
		eps := nn.New(x.Shape...)
		ts := make([]float32, o.Batch)
		captions := make([]string, o.Batch)
		for b := range o.Batch {
			p := pool // the first nPrior samples are ordinary scenes
			if b < nPrior {
				p = prior
			}
			i := r.IntN(len(p.scenes))
			captions[b] = p.scenes[i].Caption(r)
			step := r.IntN(schedCfg.TrainSteps)
			ts[b] = float32(step)
			e := eps.Data[b*n : (b+1)*n]
			for j := range e {
				e[j] = float32(r.NormFloat64())
			}
			_ = sched.AddNoise(x.Data[b*n:(b+1)*n], p.latents[i*n:(i+1)*n], e, step)
		}
		ctx, err := text.Encode(encodeCaptions(tok, captions), clipOptions) // (B, 77, D), frozen
		if err != nil {
			panic(err) // our own tokenizer's ids fit the model
		}
		pred := m.Forward(tp, grad.Const(x), ts, grad.Const(ctx))
		return l2(tp, pred, grad.Const(eps), minSNRWeights(sched.AlphasCumprod, ts, n))
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("sdmini: lora: %w", err)
	}
	if _, err := tr.run(); err != nil {
		return err
	}

	// kohya-ss names: lora_unet_<module with . -> _>, alpha = rank.
	var entries []weights.Entry
	under := strings.NewReplacer(".", "_")
	for _, t := range targets {
		key := "lora_unet_" + under.Replace(t.name)
		entries = append(entries,
			weights.Entry{Name: key + ".lora_down.weight", DType: weights.F32, Shape: t.down.Shape(), Float: t.down.Value.Data},
			weights.Entry{Name: key + ".lora_up.weight", DType: weights.F32, Shape: t.up.Shape(), Float: t.up.Value.Data},
			weights.Entry{Name: key + ".alpha", DType: weights.F32, Shape: []int{}, Float: []float32{float32(o.Rank)}})
	}
	meta := map[string]string{"ss_network_module": "networks.lora", "ss_network_dim": fmt.Sprint(o.Rank),
		"ss_network_alpha": fmt.Sprint(o.Rank), "ss_output_name": strings.TrimSuffix(filepath.Base(o.Out), filepath.Ext(o.Out)),
		"sdgo_concept": o.Concept, "ss_steps": fmt.Sprint(o.Steps), "sdgo_prior": fmt.Sprint(o.Prior)}
	if err := weights.Write(o.Out, entries, meta, true); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "lora: %d modules, rank %d, written to %s\n", len(targets), o.Rank, o.Out)
	return nil
}

// transformerLinears lists the linear layers of the U-Net's spatial
// transformers: proj_in, proj_out and, in each block, attn1/attn2's
// to_q, to_k, to_v, to_out.0 and ff.net.0.proj, ff.net.2 (what a kohya-ss
// LoRA targets).
func (m *UNet) transformerLinears() []*layers.Linear {
	var ts []*transformer2D
	for _, d := range m.Down {
		ts = append(ts, d.Attentions...)
	}
	if m.Mid.Attention != nil {
		ts = append(ts, m.Mid.Attention)
	}
	for _, u := range m.Up {
		ts = append(ts, u.Attentions...)
	}
	var out []*layers.Linear
	for _, t := range ts {
		out = append(out, &t.ProjIn, &t.ProjOut)
		for _, b := range t.Blocks {
			out = append(out, &b.Attn1.Q, &b.Attn1.K, &b.Attn1.V, &b.Attn1.Out,
				&b.Attn2.Q, &b.Attn2.K, &b.Attn2.V, &b.Attn2.Out, &b.FFProj, &b.FFOut)
		}
	}
	return out
}
