package sdmini

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/grad/layers"
	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/vae"
)

// trainingImages renders n training scenes drawn from r as a batch
// (n, 3, 64, 64) in [-1, 1], with the scenes.
func trainingImages(r *rand.Rand, n int, rc shapes.Recipe) (*nn.Tensor, []shapes.Scene) {
	scenes := make([]shapes.Scene, n)
	data := make([]float32, 0, n*3*ImageSize*ImageSize)
	for i := range scenes {
		scenes[i] = shapes.SampleRecipe(r, shapes.Train, rc)
		data = shapes.ToTensor(data, scenes[i].Render(ImageSize))
	}
	return nn.From(data, n, 3, ImageSize, ImageSize), scenes
}

// TrainBPE learns the vocabulary from the captions of o.Steps training
// scenes (the "steps" of this stage are captions) and writes Dir/tokenizer.
func TrainBPE(o Options) error {
	o = o.withDefaults(stageDefaults("bpe"))
	r := rand.New(rand.NewPCG(o.Seed, saltBPE))
	captions := make([]string, o.Steps)
	for i := range captions {
		captions[i] = shapes.SampleRecipe(r, shapes.Train, o.Recipe).CaptionRecipe(r, o.Recipe)
	}
	v, err := LearnBPE(captions)
	if err != nil {
		return err
	}
	if err := v.Write(filepath.Join(o.Dir, "tokenizer")); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "bpe: %d captions, %d merges, vocabulary of %d tokens written to %s\n",
		len(captions), len(v.Merges), len(v.IDs), filepath.Join(o.Dir, "tokenizer"))
	return nil
}

// loadTokenizer reads the vocabulary the bpe stage wrote.
func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer"))
	if err != nil {
		return nil, earlierStage("bpe", err)
	}
	return tok, nil
}

// encodeCaptions returns the padded ids (B, 77) of the captions.
func encodeCaptions(tok *tokenizer.Tokenizer, captions []string) [][]int {
	ids := make([][]int, len(captions))
	for i, c := range captions {
		ids[i] = tok.EncodePadded(c, tokenizer.ContextLength, tokenizer.PadSD1)
	}
	return ids
}

// imageTower is CLIP's image side at sd-mini's scale: four stride-2
// convolutions (64 → 4 pixels) and a linear map of the whole 4×4 grid, so
// that where things are survives into the embedding. It exists only to
// train the text tower and is not exported.
type imageTower struct {
	convs []layers.Conv2d
	norms []layers.GroupNorm
	proj  layers.Linear
}

func newImageTower(b layers.Builder, dim int) *imageTower {
	t := &imageTower{}
	in := 3
	for i, out := range []int{32, 64, 128, 128} {
		t.convs = append(t.convs, layers.NewConv2d(b.Subf("conv%d", i), in, out, 3, 2, 1))
		t.norms = append(t.norms, layers.NewGroupNorm(b.Subf("norm%d", i), out, 8, 1e-5))
		in = out
	}
	t.proj = layers.NewLinear(b.Sub("proj"), in*16, dim, false)
	return t
}

// forward embeds images (B, 3, 64, 64) -> (B, dim).
func (t *imageTower) forward(tp *grad.Tape, x *grad.Var) *grad.Var {
	for i, c := range t.convs {
		x = tp.SiLU(t.norms[i].Forward(tp, c.Forward(tp, x))) // (B, C, H, W) -> (B, C', H/2, W/2)
	}
	b := x.Shape()[0]
	return t.proj.Forward(tp, tp.Reshape(x, b, -1)) // (B, 128·4·4) -> (B, dim)
}

// TrainCLIP trains the text encoder contrastively: for a batch of images
// and their captions, the image tower's and the text tower's embeddings
// (pooled at the end token, projected, L2-normalised) give a (B, B) matrix
// of similarities scaled by a learned temperature, and the loss is CLIP's
// symmetric cross-entropy that picks each image's caption and each
// caption's image. Writes Dir/text_encoder.
func TrainCLIP(o Options) error {
	o = o.withDefaults(stageDefaults("clip"))
	tok, err := loadTokenizer(o.Dir)
	if err != nil {
		return err
	}
	cfg := TextConfig(tok.VocabSize())
	cfg.BOS, cfg.EOS, cfg.Pad = tok.BOS(), tok.EOS(), tok.EOS()
	ps := grad.NewParams()
	r := rand.New(rand.NewPCG(o.Seed, saltCLIP))
	text, err := NewText(ps, r, cfg)
	if err != nil {
		return err
	}
	b := layers.NewBuilder(ps, r)
	const dim = 128
	proj := layers.NewLinear(b.Sub("text_projection"), cfg.Width, dim, false)
	vision := newImageTower(b.Sub("vision"), dim)
	maxScale := float32(math.Log(100))
	logitScale := ps.Add("logit_scale", grad.Full(float32(math.Log(1/0.07)), 1)) // CLIP's init

	labels := make([]int, o.Batch)
	for i := range labels {
		labels[i] = i
	}
	t := &trainer{name: "clip", o: o, ps: ps, opt: newAdamW(ps, o.LR), salt: saltCLIP}
	t.step = func(tp *grad.Tape, r *rand.Rand) *grad.Var {
		imgs, scenes := trainingImages(r, o.Batch, o.Recipe)
		captions := make([]string, o.Batch)
		for i, s := range scenes {
			captions[i] = s.CaptionRecipe(r, o.Recipe)
		}
		ids := trimAfterEOS(encodeCaptions(tok, captions), tok.EOS())
		txt := tp.L2Normalize(proj.Forward(tp, Pool(tp, ids, text.Forward(tp, ids)))) // (B, dim)
		img := tp.L2Normalize(vision.forward(tp, grad.Const(imgs)))                   // (B, dim)
		logits := tp.MulScalar(tp.MatMul(img, txt, false, true), tp.Exp(logitScale))  // (B, B): image i vs caption j
		if o.HardNegatives {
			if negs := hardNegatives(scenes, captions); len(negs) > 0 {
				nids := trimAfterEOS(encodeCaptions(tok, negs), tok.EOS())
				neg := tp.L2Normalize(proj.Forward(tp, Pool(tp, nids, text.Forward(tp, nids))))       // (K, dim)
				negLogits := tp.MulScalar(tp.MatMul(img, neg, false, true), tp.Exp(logitScale))       // (B, K): image i vs swapped caption k
				perImage := tp.CrossEntropy(tp.Concat(logits, negLogits), labels)                     // each image picks its caption among B+K
				return tp.Scale(tp.Add(perImage, tp.CrossEntropy(tp.Transpose(logits), labels)), 0.5) // captions pick among the B images
			}
		}
		perImage := tp.CrossEntropy(logits, labels)
		perCaption := tp.CrossEntropy(tp.Transpose(logits), labels)
		return tp.Scale(tp.Add(perImage, perCaption), 0.5)
	}
	t.after = func() { logitScale.Value.Data[0] = min(logitScale.Value.Data[0], maxScale) }
	if _, err := t.run(); err != nil {
		return err
	}
	embed := func(tp *grad.Tape, imgs *nn.Tensor, captions []string) (img, txt *grad.Var) {
		ids := trimAfterEOS(encodeCaptions(tok, captions), tok.EOS())
		txt = tp.L2Normalize(proj.Forward(tp, Pool(tp, ids, text.Forward(tp, ids))))
		if imgs != nil {
			img = tp.L2Normalize(vision.forward(tp, grad.Const(imgs)))
		}
		return img, txt
	}
	fmt.Fprintf(o.Log, "clip: binding: each held-out pair image is closer to its caption than to the caption with its colours swapped in %.1f%% of %d\n",
		100*bindingAccuracy(embed, rand.New(rand.NewPCG(o.Seed, saltEval)), bindingPairs), bindingPairs)
	if err := exportParams(ps, "text_model.", filepath.Join(o.Dir, textWeights)); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(o.Dir, "text_encoder", "config.json"), textConfigJSON(cfg)); err != nil {
		return err
	}
	// A copy an earlier unet stage kept (Options.TextLR) is of an older encoder.
	if err := os.Remove(filepath.Join(o.Dir, clipOriginal)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sdmini: %w", err)
	}
	fmt.Fprintf(o.Log, "clip: text encoder written to %s\n", filepath.Join(o.Dir, "text_encoder"))
	return nil
}

// trimAfterEOS cuts every row of ids after the last end token that any
// row needs: the attention is causal, so the pooled feature and every
// position up to it are unchanged, and the padding is not computed.
func trimAfterEOS(ids [][]int, eos int) [][]int {
	n := 0
	for _, row := range ids {
		for i, id := range row {
			if id == eos {
				n = max(n, i+1)
				break
			}
		}
	}
	for i := range ids {
		ids[i] = ids[i][:n]
	}
	return ids
}

// vaeEvalCaptions is the number of held-out captions of one shape, and of
// two, whose scenes the vae stage reconstructs and scores at its end: sdgo
// eval --reconstruct's figures at its defaults, what the autoencoder can
// carry of the captions sdgo eval scores the whole model on.
const vaeEvalCaptions = 200

// foregroundWeight is the weight of the pixels of shapes in the VAE's
// reconstruction loss, against 1 for the background: shapes cover a few
// percent of an image, yet their colour, outline and place are what a
// caption describes.
const foregroundWeight = 10

// foregroundWeights returns per-element loss weights for imgs (B, 3, H, W):
// foregroundWeight where a pixel differs from its scene's background
// colour or lies within margin pixels of one that does (a square
// neighbourhood: Options.ForegroundMargin), 1 elsewhere.
func foregroundWeights(imgs *nn.Tensor, scenes []shapes.Scene, margin int) *nn.Tensor {
	w := nn.New(imgs.Shape...)
	h, wd := imgs.Shape[2], imgs.Shape[3]
	plane := h * wd
	fg := make([]bool, plane)  // the shapes' pixels
	tmp := make([]bool, plane) // fg widened along rows
	for b, s := range scenes {
		bg := s.Background.RGB()
		ref := [3]float32{float32(bg.R)/127.5 - 1, float32(bg.G)/127.5 - 1, float32(bg.B)/127.5 - 1}
		x := imgs.Data[b*3*plane : (b+1)*3*plane]
		for i := range plane {
			fg[i] = false
			for c := range 3 {
				if d := x[c*plane+i] - ref[c]; d > 0.01 || d < -0.01 {
					fg[i] = true
				}
			}
		}
		if margin > 0 { // a square window's max is a max along rows, then along columns
			for y := range h {
				for q := range wd {
					tmp[y*wd+q] = slices.Contains(fg[y*wd+max(0, q-margin):y*wd+min(wd, q+margin+1)], true)
				}
			}
			for y := range h {
				for q := range wd {
					fg[y*wd+q] = false
					for yy := max(0, y-margin); yy < min(h, y+margin+1); yy++ {
						if tmp[yy*wd+q] {
							fg[y*wd+q] = true
							break
						}
					}
				}
			}
		}
		ws := w.Data[b*3*plane : (b+1)*3*plane]
		for i, f := range fg {
			v := float32(1)
			if f {
				v = foregroundWeight
			}
			for c := range 3 {
				ws[c*plane+i] = v
			}
		}
	}
	return w
}

// initLogVar is the VAE's initial log σ² (σ ≈ 0.05).
const initLogVar = -6

// klWeight weighs the VAE's KL term against the per-pixel reconstruction
// loss: small, as in SD's autoencoder, enough to keep the latents tame.
const klWeight = 1e-5

// TrainVAE trains the autoencoder to reconstruct training images: L1 + L2
// on the decoded sample z = μ + σ·ε, plus klWeight × the KL divergence of
// N(μ, σ²) from N(0, 1), per element. Then it measures the scaling factor
// (1/std of the latents of 512 images) and writes Dir/vae.
func TrainVAE(o Options) error {
	o = o.withDefaults(stageDefaults("vae"))
	cfg := VAEConfig()
	if o.LatentChannels > 0 {
		cfg.LatentChannels = o.LatentChannels
	}
	ps := grad.NewParams()
	m, err := NewVAE(ps, rand.New(rand.NewPCG(o.Seed, saltVAE)), cfg)
	if err != nil {
		return err
	}
	lat := cfg.LatentChannels
	// Start with a small σ: with σ ≈ 1 the noise would drown μ and the
	// decoder would at first learn only the background.
	last := m.Encoder.ConvOut
	if m.QuantConv != nil {
		last = *m.QuantConv
	}
	for i := lat; i < 2*lat; i++ {
		last.Bias.Value.Data[i] = initLogVar
	}
	t := &trainer{name: "vae", o: o, ps: ps, opt: newAdamW(ps, o.LR), salt: saltVAE}
	// draw returns one step's batch: the images, their loss weights and the
	// noise ε of the sampled latents, the images and ε drawn in this order
	// from r.
	draw := func(r *rand.Rand) (imgs, w, eps *nn.Tensor) {
		imgs, scenes := trainingImages(r, o.Batch, o.Recipe)            // (B, 3, 64, 64)
		eps = grad.Normal(r, 1, o.Batch, lat, ImageSize/8, ImageSize/8) // ε (B, 4, 8, 8)
		return imgs, foregroundWeights(imgs, scenes, o.ForegroundMargin), eps
	}
	if parts := min(vaeShards, o.Batch); gemm.FastOrder() && parts > 1 {
		t.shards = parts
		t.shard = func(r *rand.Rand) func(tp *grad.Tape, s int) *grad.Var {
			imgs, w, eps := draw(r)
			return vaePart(m, imgs, w, eps, parts)
		}
	} else {
		t.step = func(tp *grad.Tape, r *rand.Rand) *grad.Var {
			imgs, w, eps := draw(r)
			return vaeLoss(tp, m, imgs, w, eps)
		}
	}
	if _, err := t.run(); err != nil {
		return err
	}
	if err := exportParams(ps, "", filepath.Join(o.Dir, vaeWeights)); err != nil {
		return err
	}
	// Measure the scaling factor on the exported (fp16) model.
	cfg.ScalingFactor = 1
	if err := writeJSON(filepath.Join(o.Dir, "vae", "config.json"), vaeConfigJSON(cfg)); err != nil {
		return err
	}
	v, err := loadVAE(o.Dir)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(o.Seed, saltVAE<<40|1<<39))
	if o.LatentStats {
		if cfg.LatentsMean, cfg.LatentsStd, err = ChannelStats(v, r, 512); err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "vae: latent channels' means %v, standard deviations %v\n", cfg.LatentsMean, cfg.LatentsStd)
	} else if cfg.ScalingFactor, err = ScalingFactor(v, r, 512); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(o.Dir, "vae", "config.json"), vaeConfigJSON(cfg)); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "vae: scaling factor %g; autoencoder written to %s\n", cfg.ScalingFactor, filepath.Join(o.Dir, "vae"))
	ev, err := Evaluate(o.Dir, EvalOptions{N: vaeEvalCaptions, Reconstruct: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "vae: reconstructions of scenes of %d held-out captions of one shape (sdgo eval --reconstruct), as the pixel scorer reads them:\n%s", vaeEvalCaptions, ev.Table)
	fmt.Fprintf(o.Log, "vae: … and of %d of two shapes:\n%s", vaeEvalCaptions, ev.PairTable)
	return nil
}

// vaeShards is the number of parts the vae stage splits each batch into on
// the GEMM paths where gemm.FastOrder allows sums in another order (the
// avx2 path): the parts run at once, one per core (see trainer.shard),
// where one pass over the batch keeps about one core busy. It is part of
// that path's recipe, not a thread count: the parts' gradients are summed
// in another order than one pass's, so the bits change with it, and the
// paths whose bits the provenance record pins (avx512, which trained the
// embedded model, and go) keep one pass.
const vaeShards = 2

// vaeLoss is the vae stage's loss on a batch x (b, 3, 64, 64) of scenes:
// L1 + L2 of the reconstruction of the sampled latent z = μ + σ·ε (ε, (b,
// 4, 8, 8)), weighted per element by w (x's shape, foregroundWeights),
// plus klWeight × the KL divergence of N(μ, σ²) from N(0, 1), per element.
func vaeLoss(tp *grad.Tape, m *VAE, x, w, eps *nn.Tensor) *grad.Var {
	lat := eps.Shape[1]
	xv := grad.Const(x)
	moments := m.Encode(tp, xv)                                               // (b, 2·4, 8, 8)
	mean := selectChannels(tp, moments, 0, lat)                               // μ (b, 4, 8, 8)
	logVar := selectChannels(tp, moments, lat, lat)                           // log σ²
	z := tp.Add(mean, tp.Mul(tp.Exp(tp.Scale(logVar, 0.5)), grad.Const(eps))) // μ + σ·ε
	y := m.Decode(tp, z)                                                      // (b, 3, 64, 64)
	// KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − log σ² − 1), per element; the
	// constant −1 is left out (it has no gradient).
	kl := tp.Scale(tp.Mean(tp.Sub(tp.Add(tp.Mul(mean, mean), tp.Exp(logVar)), logVar)), 0.5)
	return tp.Add(tp.Add(l1(tp, y, xv, w), l2(tp, y, xv, w)), tp.Scale(kl, klWeight))
}

// vaePart returns the forward pass of part s of parts of the batch imgs (B,
// 3, 64, 64) with its loss weights w and noise ε (B, 4, 8, 8): vaeLoss on
// the part's rows, weighted by the part's share of the batch, so that the
// parts' losses and gradients add up to the whole batch's.
func vaePart(m *VAE, imgs, w, eps *nn.Tensor, parts int) func(tp *grad.Tape, s int) *grad.Var {
	b := imgs.Shape[0]
	return func(tp *grad.Tape, s int) *grad.Var {
		lo, hi := s*b/parts, (s+1)*b/parts // the part's rows
		loss := vaeLoss(tp, m, rows(imgs, lo, hi), rows(w, lo, hi), rows(eps, lo, hi))
		return tp.Scale(loss, float32(hi-lo)/float32(b))
	}
}

// rows is the view of rows lo to hi of the batch t (B, ...).
func rows(t *nn.Tensor, lo, hi int) *nn.Tensor {
	n := len(t.Data) / t.Shape[0]
	return nn.From(t.Data[lo*n:hi*n], append([]int{hi - lo}, t.Shape[1:]...)...)
}

// ScalingFactor returns 1/std of the latent means of n training images
// drawn from r, rounded to 5 significant digits: the factor that gives the
// U-Net latents of unit variance (SD's 0.18215 was found so).
func ScalingFactor(v *vae.Model, r *rand.Rand, n int) (float64, error) {
	var sum, sq float64
	count := 0
	err := trainingLatents(v, r, n, func(d *nn.Tensor) {
		for _, x := range d.Data {
			sum += float64(x)
			sq += float64(x) * float64(x)
			count++
		}
	})
	if err != nil {
		return 0, err
	}
	mean := sum / float64(count)
	std := math.Sqrt(sq/float64(count) - mean*mean)
	if !(std > 0) {
		return 0, fmt.Errorf("sdmini: latents have std %v", std)
	}
	return round5(1 / std), nil
}

// ChannelStats returns the mean and standard deviation of each channel of
// the latent means of n training images drawn from r, rounded to 5
// significant digits: diffusers' latents_mean and latents_std, which give
// the U-Net every channel at zero mean and unit variance
// (Options.LatentStats).
func ChannelStats(v *vae.Model, r *rand.Rand, n int) (mean, std []float64, err error) {
	c := v.Config.LatentChannels
	sum, sq := make([]float64, c), make([]float64, c)
	count := 0 // values per channel
	err = trainingLatents(v, r, n, func(d *nn.Tensor) {
		plane := d.Shape[2] * d.Shape[3] // h·w
		for i, x := range d.Data {
			ch := i / plane % c
			sum[ch] += float64(x)
			sq[ch] += float64(x) * float64(x)
		}
		count += d.Shape[0] * plane
	})
	if err != nil {
		return nil, nil, err
	}
	mean, std = make([]float64, c), make([]float64, c)
	for ch := range c {
		m := sum[ch] / float64(count)
		s := math.Sqrt(sq[ch]/float64(count) - m*m)
		if !(s > 0) {
			return nil, nil, fmt.Errorf("sdmini: latent channel %d has std %v", ch, s)
		}
		mean[ch], std[ch] = round5(m), round5(s)
	}
	return mean, std, nil
}

// trainingLatents encodes n training images drawn from r, 64 at a time,
// and calls fn with each batch's latent means (b, C, 8, 8).
func trainingLatents(v *vae.Model, r *rand.Rand, n int, fn func(mean *nn.Tensor)) error {
	for done := 0; done < n; done += 64 {
		imgs, _ := trainingImages(r, min(64, n-done), shapes.Recipe{})
		d, err := v.Encode(imgs)
		if err != nil {
			return err
		}
		fn(d.Mean)
	}
	return nil
}

// round5 rounds x to 5 significant digits, as the configs print them.
func round5(x float64) float64 {
	y, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 5, 64), 64)
	return y
}

// elapsed formats the time since t for log lines.
func elapsed(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

// hardNegatives returns, for every two-shape scene of the batch with two
// colours, its caption with the colours swapped (shapes.Scene.SwapColours):
// captions of the same words bound the wrong way, which the text encoder
// must tell from the right one (Options.HardNegatives).
func hardNegatives(scenes []shapes.Scene, captions []string) []string {
	var negs []string
	for i, s := range scenes {
		if c, ok := s.SwapColours(captions[i]); ok {
			negs = append(negs, c)
		}
	}
	return negs
}

// bindingPairs is the number of held-out pair images bindingAccuracy scores.
const bindingPairs = 256

// bindingAccuracy is the share of n held-out two-colour pair scenes (drawn
// from r, which no training step uses) whose image embedding is closer to
// the embedding of their caption than to that of the caption with the
// colours swapped (shapes.Scene.SwapColours): how well the text tower,
// with the image tower it was trained against, tells "a red circle above a
// blue square" from "a blue circle above a red square". embed returns the
// L2-normalised embeddings (B, dim) of a batch of images (nil: none) and of
// captions. It reads the weights only.
func bindingAccuracy(embed func(tp *grad.Tape, imgs *nn.Tensor, captions []string) (img, txt *grad.Var), r *rand.Rand, n int) float64 {
	right := 0
	tp := grad.NewTape()
	for done := 0; done < n; done += 32 {
		k := min(32, n-done)
		var data []float32
		captions := make([]string, 0, k)
		swapped := make([]string, 0, k)
		for len(captions) < k {
			s := shapes.Sample(r, shapes.Eval)
			c := s.Caption(r)
			sw, ok := s.SwapColours(c)
			if !ok {
				continue
			}
			data = shapes.ToTensor(data, s.Render(ImageSize))
			captions, swapped = append(captions, c), append(swapped, sw)
		}
		tp.Reset()
		img, txt := embed(tp, nn.From(data, k, 3, ImageSize, ImageSize), captions)
		_, neg := embed(tp, nil, swapped)
		dim := img.Shape()[1]
		for i := range k {
			var pos, alt float32
			for j := range dim {
				pos += img.Value.Data[i*dim+j] * txt.Value.Data[i*dim+j]
				alt += img.Value.Data[i*dim+j] * neg.Value.Data[i*dim+j]
			}
			if pos > alt {
				right++
			}
		}
	}
	return float64(right) / float64(n)
}
