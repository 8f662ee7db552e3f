package sdmini

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/vae"
)

// DefaultScenes is how many distinct training scenes the U-Net stage
// encodes to latents once, up front; each use draws a fresh caption.
const DefaultScenes = 16384

// captionDropout is the share of training captions replaced by the empty
// prompt, so that the model also learns the unconditional prediction that
// classifier-free guidance extrapolates from.
const captionDropout = 0.1

// emaDecay is the largest decay of the U-Net's exponential moving average,
// the weights the stage exports, as Stable Diffusion's checkpoints hold the
// EMA of its U-Net (decay 0.9999). With grad.EMA's warm-up the decay after n
// steps is about 1 − 9/n, so over 12000 steps it never reaches this cap and
// the average spans roughly the last ninth of training.
const emaDecay = 0.9999

// unetShards is the number of parts each U-Net training batch is split
// into, to run at once on the cores (see trainer.shard). It is part of the
// recipe, not a thread count: the parts' gradients are summed in another
// order than one pass's, so changing it changes the trained bits.
const unetShards = 2

// minSNRGamma is γ of the Min-SNR loss weighting.
const minSNRGamma = 5

// minSNRWeights returns per-element loss weights (B·n) for timesteps ts:
// min(SNR(t), γ)/SNR(t) with SNR(t) = ᾱₜ/(1 − ᾱₜ), Min-SNR-γ weighting for
// ε-prediction (Hang et al., "Efficient Diffusion Training via Min-SNR
// Weighting Strategy", 2023). The ε loss weighs the error in x₀ by SNR(t),
// so the noisiest steps, which decide the layout and the colours, learn
// slowest; capping the weight of the nearly clean steps evens that out and
// trains several times faster. The sampler is unchanged.
func minSNRWeights(abar []float32, ts []float32, n int) *nn.Tensor {
	w := nn.New(len(ts) * n)
	for b, t := range ts {
		a := float64(abar[int(t)])
		snr := a / (1 - a)
		v := float32(min(snr, minSNRGamma) / snr)
		for i := range n {
			w.Data[b*n+i] = v
		}
	}
	return w
}

// latentPool is the U-Net stage's data: scenes and their scaled latents.
type latentPool struct {
	scenes  []shapes.Scene
	latents []float32 // (N, 4, 8, 8)
	size    int       // values per latent: 4·8·8
}

// encodePool renders n training scenes drawn from r and encodes them with
// the VAE (the distribution's mean), at the U-Net's latent scale
// (vae.Model.Scale).
func encodePool(v *vae.Model, r *rand.Rand, n int, rc shapes.Recipe) (*latentPool, error) {
	p := &latentPool{}
	for done := 0; done < n; done += 64 {
		imgs, scenes := trainingImages(r, min(64, n-done), rc)
		d, err := v.Encode(imgs)
		if err != nil {
			return nil, err
		}
		p.size = d.Mean.Len() / len(scenes)
		p.latents = append(p.latents, v.Scale(d.Mean).Data...) // (b, C, 8, 8), the U-Net's scale
		p.scenes = append(p.scenes, scenes...)
	}
	return p, nil
}

// TrainUNet trains the noise predictor (DDPM ε-prediction, SD 1.5's
// schedule): for latents x₀ of training scenes, a timestep t and noise ε,
// the U-Net sees xₜ = √ᾱₜ·x₀ + √(1−ᾱₜ)·ε and the frozen text encoder's
// context of the scene's caption (the empty caption 10% of the time), and
// the loss is ‖ε̂ − ε‖², weighted by Min-SNR-5 (see minSNRWeights). The
// weights it exports are the exponential moving average of the trained ones
// (see emaDecay). Each batch runs as unetShards parts at once, one per
// core. Writes Dir/unet, Dir/scheduler and Dir/model_index.json, completing
// the model folder. With Options.TextLR the text encoder is not frozen but
// trained with the U-Net, and its average replaces Dir/text_encoder's
// weights (see newTunedText).
func TrainUNet(o Options) error {
	o = o.withDefaults(stageDefaults("unet"))
	tok, err := loadTokenizer(o.Dir)
	if err != nil {
		return err
	}
	text, err := loadTextEncoder(o.Dir)
	if err != nil {
		return err
	}
	v, err := loadVAE(o.Dir)
	if err != nil {
		return err
	}
	schedCfg := SchedulerConfig()
	sched, err := schedCfg.Schedule()
	if err != nil {
		return err
	}
	scenes := o.Scenes
	if scenes == 0 {
		scenes = DefaultScenes
	}
	began := time.Now()
	pool, err := encodePool(v, rand.New(rand.NewPCG(o.Seed, saltUNet<<40|1<<39)), scenes, o.Recipe)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "unet: %d training scenes encoded to latents in %v\n", scenes, elapsed(began))

	cfg := UNetConfig()
	cfg.CrossAttentionDim = text.Config.Width
	cfg.InChannels, cfg.OutChannels = v.Config.LatentChannels, v.Config.LatentChannels // the VAE's latents, 4 by default
	ps := grad.NewParams()
	m, err := NewUNet(ps, rand.New(rand.NewPCG(o.Seed, saltUNet)), cfg)
	if err != nil {
		return err
	}
	var tuned *Text            // the text encoder trained with the U-Net, or nil: frozen
	var contexts *contextCache // the frozen encoder's contexts
	if o.TextLR > 0 {
		if tuned, err = newTunedText(ps, o.Dir, text.Config); err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "unet: fine-tuning the text encoder at lr %g (from %s)\n", o.TextLR, filepath.Join(o.Dir, clipOriginal))
	} else {
		if o.Resume {
			if err := checkFrozenResume(o.Dir); err != nil {
				return err
			}
		}
		contexts = newContextCache(tok, text, contextCacheBytes)
	}
	parts := min(unetShards, o.Batch)
	t := &trainer{name: "unet", o: o, ps: ps, opt: newAdamW(ps, o.LR), salt: saltUNet, ema: grad.NewEMA(ps, emaDecay), shards: parts}
	if tuned != nil {
		t.opt.LRScale = textLRScale(o.LR, o.TextLR)
	}
	n := pool.size
	t.shard = func(r *rand.Rand) func(tp *grad.Tape, s int) *grad.Var {
		// The whole batch is drawn first, so the random stream does not
		// depend on the parts.
		x := nn.New(o.Batch, cfg.InChannels, ImageSize/8, ImageSize/8) // xₜ (B, 4, 8, 8)
		eps := nn.New(x.Shape...)                                      // ε
		ts := make([]float32, o.Batch)
		captions := make([]string, o.Batch)
		for b := range o.Batch {
			i := r.IntN(len(pool.scenes))
			if r.Float64() >= captionDropout {
				captions[b] = pool.scenes[i].CaptionRecipe(r, o.Recipe)
			}
			step := r.IntN(schedCfg.TrainSteps)
			ts[b] = float32(step)
			e := eps.Data[b*n : (b+1)*n]
			for j := range e {
				e[j] = float32(r.NormFloat64())
			}
			// AddNoise only fails on length mismatches, which cannot happen here.
			_ = sched.AddNoise(x.Data[b*n:(b+1)*n], pool.latents[i*n:(i+1)*n], e, step)
		}
		w := minSNRWeights(sched.AlphasCumprod, ts, n) // (B·4·8·8)
		return func(tp *grad.Tape, s int) *grad.Var {
			lo, hi := s*o.Batch/parts, (s+1)*o.Batch/parts // the part's rows
			var c *grad.Var
			if tuned != nil {
				c = tuned.Forward(tp, encodeCaptions(tok, captions[lo:hi])) // (b, 77, D), trained
			} else {
				ctx, err := contexts.encode(captions[lo:hi]) // (b, 77, D), frozen
				if err != nil {
					panic(err) // the ids come from our own tokenizer and fit the model
				}
				c = grad.Const(ctx)
			}
			pred := m.Forward(tp, grad.Const(rows(x, lo, hi)), ts[lo:hi], c) // ε̂ (b, 4, 8, 8)
			loss := l2(tp, pred, grad.Const(rows(eps, lo, hi)), nn.From(w.Data[lo*n:hi*n], (hi-lo)*n))
			return tp.Scale(loss, float32(hi-lo)/float32(o.Batch)) // the part's share of the batch's mean
		}
	}
	if _, err := t.run(); err != nil {
		return err
	}
	if tuned != nil {
		if err := exportTuned(t.ema.Averages(), o.Dir); err != nil {
			return err
		}
	} else if err := exportParams(t.ema.Averages(), "", filepath.Join(o.Dir, unetWeights)); err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		v    any
	}{
		{filepath.Join(o.Dir, "unet", "config.json"), unetConfigJSON(cfg)},
		{filepath.Join(o.Dir, "scheduler", "scheduler_config.json"), schedulerConfigJSON(schedCfg)},
	} {
		if err := writeJSON(f.path, f.v); err != nil {
			return err
		}
	}
	if err := writeModelIndex(o.Dir); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "unet: model written to %s\n", o.Dir)
	return nil
}

// contextCacheBytes bounds the memory of the U-Net stage's cache of text
// contexts (see contextCache): 512 MiB, 13617 captions of 77×128 float32s.
// A 12000-step run of 32 samples draws 384,000 captions, 118,620 distinct
// with the first recipe and 190,970 with the binding knobs (--pair-share
// 0.6 --distinct-pairs --hold-out-pairs --relation-share 0.5), 4.7 and
// 7.5 GB to keep them all, and most of them drawn once. Keeping the first
// 13617 drawn a second time (and the empty caption, a tenth of the draws)
// spares 47% and 33% of the encodings (seed 1).
const contextCacheBytes = 512 << 20

// contextSeen bounds the captions contextCache remembers having encoded
// once: about 25 MB of strings.
const contextSeen = 1 << 18

// contextCache holds the frozen text encoder's context of captions, so that
// each is encoded once per run, up to a number of captions, beyond which it
// encodes the others every time. It keeps a caption when it meets it a
// second time (the empty caption at once), to spend its room on the
// captions that recur rather than on the many drawn only once. A context
// row depends on its own caption only (the encoder's products are row by
// row and its attention per caption; TestContextCache checks it on every
// GEMM path), so a cached context has the bits the encoder gives in any
// batch. It is safe for concurrent use.
type contextCache struct {
	tok  *tokenizer.Tokenizer
	text *clip.Model
	max  int // captions kept

	mu   sync.Mutex
	ctx  map[string][]float32 // (77, D) by caption
	seen map[string]bool      // captions encoded once and not kept
}

// newContextCache returns an empty cache of at most maxBytes of contexts.
func newContextCache(tok *tokenizer.Tokenizer, text *clip.Model, maxBytes int) *contextCache {
	size := tokenizer.ContextLength * text.Config.Width * 4
	return &contextCache{tok: tok, text: text, max: maxBytes / size, ctx: map[string][]float32{}, seen: map[string]bool{}}
}

// encode returns the contexts of captions (B, 77, D), as text.Encode
// does: the cached ones copied, the others encoded in one batch.
func (c *contextCache) encode(captions []string) (*nn.Tensor, error) {
	l, d := tokenizer.ContextLength, c.text.Config.Width
	size := l * d
	out := nn.New(len(captions), l, d) // (B, 77, D)
	hit := make([][]float32, len(captions))
	var miss []string // distinct captions not cached, in order of first use
	c.mu.Lock()
	for b, s := range captions {
		if v, ok := c.ctx[s]; ok {
			hit[b] = v
		} else if !slices.Contains(miss, s) {
			miss = append(miss, s)
		}
	}
	c.mu.Unlock()
	// Cached contexts are never written again: copy them unlocked.
	for b, v := range hit {
		if v != nil {
			copy(out.Data[b*size:(b+1)*size], v)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	enc, err := c.text.Encode(encodeCaptions(c.tok, miss), clipOptions) // (len(miss), 77, D)
	if err != nil {
		return nil, err
	}
	for i, s := range miss {
		v := enc.Data[i*size : (i+1)*size]
		for b, t := range captions {
			if t == s {
				copy(out.Data[b*size:(b+1)*size], v)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range miss {
		switch _, kept := c.ctx[s]; {
		case kept: // the other part added it meanwhile
		case (c.seen[s] || s == "") && len(c.ctx) < c.max:
			c.ctx[s] = slices.Clone(enc.Data[i*size : (i+1)*size])
			delete(c.seen, s)
		case len(c.seen) < contextSeen:
			c.seen[s] = true
		}
	}
	return out, nil
}

// clipOptions are the text encoder's options: the last layer, as the
// pipeline runs it.
var clipOptions = clip.EncodeOptions{}
