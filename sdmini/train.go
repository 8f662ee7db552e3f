package sdmini

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
)

// Options are the settings of a training stage. Zero values take the
// stage's defaults (see Stages); the data and recipe knobs (Recipe,
// HardNegatives, TextLR, ForegroundMargin) are off at zero, and BuiltIn
// turns on those the built-in weights were trained with.
type Options struct {
	// Dir is the model folder: each stage reads what the earlier ones wrote
	// there and adds its component (tokenizer/, text_encoder/, vae/, unet/
	// and scheduler/ with model_index.json: a diffusers folder). Checkpoints
	// go to Dir/checkpoints.
	Dir   string
	Steps int     // optimizer steps
	Batch int     // samples per step
	LR    float64 // peak learning rate (linear warm-up, then cosine decay to a tenth)
	Seed  uint64  // the same seed and options give the same weights, byte for byte
	// Resume continues from the stage's checkpoint in Dir/checkpoints when
	// there is one; otherwise a stage starts afresh.
	Resume bool
	// CheckpointEvery is the number of steps between checkpoints (default
	// 200); one is also written at the end. The progress lines are also
	// appended to Dir/checkpoints/<stage>.log.
	CheckpointEvery int
	// Scenes is the number of distinct training scenes the unet stage
	// encodes to latents up front (default DefaultScenes).
	Scenes int
	// LogEvery is the number of steps between progress lines (default 20).
	LogEvery int
	// Recipe holds the training data's knobs for two-object binding (more
	// and distinct pairs, relation captions, pairs held out whole); the
	// zero Recipe is shapes' original world, BuiltIn's the built-in
	// weights'. It shapes every stage's training scenes and captions (the
	// VAE's scaling factor is measured on the original world).
	Recipe shapes.Recipe
	// HardNegatives makes the clip stage contrast each image also against
	// the captions of the batch's two-colour pairs with their colours
	// swapped (shapes.Scene.SwapColours), so that the text encoder learns
	// which colour goes with which shape. Off by default.
	HardNegatives bool
	// TextLR, when positive, fine-tunes the text encoder jointly with the
	// U-Net in the unet stage, at this peak learning rate on the same
	// schedule as the U-Net's LR: the diffusion loss then supervises every
	// one of the 77 outputs the U-Net cross-attends to, where the clip
	// stage's contrastive loss reaches only the pooled one. The stage
	// exports the encoder's EMA over Dir/text_encoder and keeps the clip
	// stage's as Dir/checkpoints/text_encoder.clip.safetensors. Zero (the
	// default) keeps the encoder frozen.
	TextLR float64
	// LatentChannels is the number of channels of the VAE stage's latents
	// (default 4, SD's): more channels carry more of a small shape's form
	// through the 8×8 latent (docs/sd-mini.md, "the autoencoder's
	// ceiling"). The unet stage reads it from Dir/vae/config.json.
	LatentChannels int
	// ForegroundMargin widens the part of each image the VAE's
	// reconstruction loss weighs as the shapes' own (foregroundWeight
	// against 1) by this many pixels around every shape, so that colour
	// blurred out of a shape costs as much as colour lost inside it: the
	// decoder then keeps more of a small shape's corners (docs/sd-mini.md,
	// "the autoencoder's ceiling"). Zero (the default) weighs the shapes'
	// pixels only.
	ForegroundMargin int
	// LatentStats has the VAE stage normalise each latent channel on its
	// own: it measures every channel's mean and standard deviation on the
	// training scenes and writes them as diffusers' latents_mean and
	// latents_std (vae.Config.LatentsMean), with a scaling factor of 1,
	// instead of one scaling factor for all channels. Channels whose spread
	// differs (with many latent channels, docs/sd-mini.md) then all reach
	// the U-Net at unit variance. False (the default) keeps SD's single
	// factor; on the one run so far (16 channels) it did far worse
	// (docs/sd-mini.md).
	LatentStats bool
	// Log receives the progress lines; nil discards them.
	Log io.Writer
}

// Stage is one step of building sd-mini.
type Stage struct {
	Name    string
	Summary string
	// Defaults are the stage's steps, batch and learning rate. With
	// BuiltIn's recipe all stages together train in about 76 minutes on
	// two AVX2 cores (measured, docs/sd-mini.md) and about 40 on two with
	// AVX-512 (projected).
	Defaults Options
	Run      func(Options) error
}

// Stages lists the training stages in the order they must run.
func Stages() []Stage {
	return []Stage{
		{"bpe", "learn the BPE vocabulary from the captions", Options{Steps: 20000}, TrainBPE},
		{"clip", "train the text encoder contrastively against a small image tower", Options{Steps: 600, Batch: 64, LR: 5e-4}, TrainCLIP},
		{"vae", "train the autoencoder and measure the latent scaling factor", Options{Steps: 2500, Batch: 8, LR: 1e-3}, TrainVAE},
		{"unet", "train the noise predictor on the VAE's latents (--text-lr: and the text encoder)", Options{Steps: 6000, Batch: 32, LR: 1e-3}, TrainUNet},
	}
}

// BuiltIn returns the recipe sd-mini's built-in weights (the files of
// model/, testdata/provenance.json) were trained with, on top of each
// stage's Defaults: the binding recipe of docs/sd-mini.md — six pair scenes
// in ten, each pair's two colours distinct, the evaluation's pairs held out
// whole, half the pair captions worded with a relation, the clip stage's
// hard negatives (colours swapped), the text encoder fine-tuned with the
// U-Net at a tenth of its rate, and the VAE's loss widened 2 pixels around
// each shape. `sdgo train`'s flags default to it. Set Dir and Seed (and
// Log), and TrainAll remakes the built-in weights.
func BuiltIn() Options {
	return Options{
		Recipe: shapes.Recipe{
			PairShare:     0.6,
			DistinctPairs: true,
			HoldOutPairs:  true,
			RelationShare: 0.5,
		},
		HardNegatives:    true,
		TextLR:           1e-4,
		ForegroundMargin: 2,
	}
}

// withDefaults fills o's zero fields from d.
func (o Options) withDefaults(d Options) Options {
	if o.Steps == 0 {
		o.Steps = d.Steps
	}
	if o.Batch == 0 {
		o.Batch = d.Batch
	}
	if o.LR == 0 {
		o.LR = d.LR
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 200
	}
	if o.LogEvery == 0 {
		o.LogEvery = 20
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

func stageDefaults(name string) Options {
	for _, s := range Stages() {
		if s.Name == name {
			return s.Defaults
		}
	}
	return Options{}
}

// Stage salts keep the random streams of the stages apart.
const (
	saltBPE uint64 = iota + 1
	saltCLIP
	saltVAE
	saltUNet
	saltEval
)

// stepRand is the random source of one training step: a function of the
// seed, the stage and the step only, so a resumed run draws what an
// uninterrupted one would have.
func stepRand(seed, salt uint64, step int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, salt<<40|uint64(step)))
}

// trainer runs the optimisation loop shared by the stages.
type trainer struct {
	name string
	o    Options
	ps   *grad.Params
	opt  *grad.AdamW
	salt uint64
	// step records one step's forward pass on tp and returns the loss.
	step func(tp *grad.Tape, r *rand.Rand) *grad.Var
	// shard, if set, replaces step with data parallelism over the batch
	// split into a fixed number of parts (shards): it draws one step's batch from r and
	// returns the forward pass of its part s, whose loss is weighted by
	// the part's share of the batch. The parts run at once, on local
	// tapes, and their gradients are added in order (see shardedStep).
	shard  func(r *rand.Rand) func(tp *grad.Tape, s int) *grad.Var
	shards int
	// after, if set, runs after each optimizer step (to clamp a parameter).
	after func()
	// ema, if set, averages the parameters after each step; the stage
	// exports its averages.
	ema *grad.EMA
}

// checkpoint is the path of the stage's resumable checkpoint.
func (t *trainer) checkpoint() string {
	return filepath.Join(t.o.Dir, "checkpoints", t.name+".safetensors")
}

// lr is the learning rate at step: linear warm-up over the first 5% of the
// steps (at most 200), then a cosine decay to a tenth of the peak.
func (t *trainer) lr(step int) float64 {
	warm := min(200, max(1, t.o.Steps/20))
	if step < warm {
		return t.o.LR * float64(step+1) / float64(warm)
	}
	p := float64(step-warm) / float64(max(1, t.o.Steps-warm))
	return t.o.LR * (0.1 + 0.9*0.5*(1+math.Cos(math.Pi*p)))
}

// run trains for o.Steps steps (from the checkpoint with Resume), writing
// progress lines and checkpoints, and returns the mean loss of the last
// LogEvery steps.
func (t *trainer) run() (float64, error) {
	o := t.o
	if err := os.MkdirAll(filepath.Dir(t.checkpoint()), 0o755); err != nil {
		return 0, fmt.Errorf("sdmini: %w", err)
	}
	start := 0
	if o.Resume {
		switch err := t.ps.Load(t.checkpoint(), t.opt, t.ema); {
		case err == nil:
			start = t.opt.Steps
			fmt.Fprintf(o.Log, "%s: resuming from %s at step %d\n", t.name, t.checkpoint(), start)
		case errors.Is(err, os.ErrNotExist):
		default:
			return 0, fmt.Errorf("sdmini: %s: --resume: %w", t.name, err)
		}
	}
	// The progress lines also go to checkpoints/<stage>.log, the loss curve.
	logFile, err := os.OpenFile(filepath.Join(filepath.Dir(t.checkpoint()), t.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("sdmini: %w", err)
	}
	defer logFile.Close()
	log := io.MultiWriter(o.Log, logFile)
	fmt.Fprintf(log, "%s: %d parameters, steps %d, batch %d, lr %g, seed %d\n", t.name, t.ps.Count(), o.Steps, o.Batch, o.LR, o.Seed)
	tp := grad.NewTape()
	local := make([]*grad.Tape, t.shards)
	for s := range local {
		local[s] = grad.NewLocalTape()
	}
	began := time.Now()
	var sum, last float64
	n := 0
	for step := start; step < o.Steps; step++ {
		t.opt.LR = t.lr(step)
		t.ps.ZeroGrad()
		var l float64
		if t.shard != nil {
			l = t.shardedStep(local, stepRand(o.Seed, t.salt, step))
		} else {
			tp.Reset()
			loss := t.step(tp, stepRand(o.Seed, t.salt, step))
			l = float64(loss.Value.Data[0])
			tp.Backward(loss)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return 0, fmt.Errorf("sdmini: %s: loss is %v at step %d (lower --lr?)", t.name, l, step)
		}
		t.ps.ClipGradNorm(1)
		t.opt.Step()
		if t.after != nil {
			t.after()
		}
		if t.ema != nil {
			t.ema.Update()
		}
		sum += l
		n++
		done := step + 1
		if done%o.LogEvery == 0 || done == o.Steps {
			last = sum / float64(n)
			rate := float64(done-start) / time.Since(began).Seconds()
			eta := time.Duration(float64(o.Steps-done) / rate * float64(time.Second)).Round(time.Second)
			fmt.Fprintf(log, "%s step %d/%d loss %.5f lr %.2e %.2f steps/s ETA %v\n", t.name, done, o.Steps, last, t.opt.LR, rate, eta)
			sum, n = 0, 0
		}
		if done%o.CheckpointEvery == 0 || done == o.Steps {
			if err := t.ps.Save(t.checkpoint(), t.opt, t.ema); err != nil {
				return 0, fmt.Errorf("sdmini: %s: checkpoint: %w", t.name, err)
			}
		}
	}
	if start >= o.Steps { // nothing left to do: the checkpoint was final
		fmt.Fprintf(o.Log, "%s: checkpoint already at step %d of %d\n", t.name, start, o.Steps)
	}
	return last, nil
}

// shardedStep runs one step's forward and backward passes as t.shard's
// parts, one per local tape, and gathers their gradients into the
// parameters; it returns the batch's loss. At most nn.Threads() parts run
// at once, each on an equal share of the threads: small tensors keep two
// cores busier as two independent passes than as one pass whose every
// operation is split in two. The parts are fixed and their gradients added
// in a fixed order, so the result does not depend on the thread count.
func (t *trainer) shardedStep(tapes []*grad.Tape, r *rand.Rand) float64 {
	forward := t.shard(r)
	threads := nn.Threads()
	at := min(threads, len(tapes)) // parts at once
	nn.SetThreads(max(1, threads/at))
	defer nn.SetThreads(threads)
	losses := make([]float64, len(tapes))
	sem := make(chan struct{}, at)
	var wg sync.WaitGroup
	for s, tp := range tapes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			tp.Reset()
			loss := forward(tp, s)
			losses[s] = float64(loss.Value.Data[0])
			tp.Backward(loss)
		}()
	}
	wg.Wait()
	t.ps.Gather(tapes...)
	sum := 0.0
	for _, l := range losses {
		sum += l
	}
	return sum
}

// newAdamW returns the optimizer sd-mini trains with: AdamW with weight
// decay 0.01 on matrices and kernels only (not on biases, norms,
// embeddings or scalars).
func newAdamW(ps *grad.Params, lr float64) *grad.AdamW {
	opt := grad.NewAdamW(ps, lr)
	opt.NoDecay = func(name string) bool {
		v := ps.Get(name)
		return len(v.Shape()) < 2 || strings.HasSuffix(name, "embedding.weight")
	}
	return opt
}

// TrainAll runs the stages in order into o.Dir. Steps, Batch and LR, when
// set, replace every training stage's default (the bpe stage always reads
// its default number of captions); Seed, Resume and the rest apply to all.
func TrainAll(o Options) error {
	for _, s := range Stages() {
		so := o
		if s.Name == "bpe" {
			so.Steps, so.Batch, so.LR = 0, 0, 0
		}
		began := time.Now()
		if err := s.Run(so); err != nil {
			return err
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "%s: done in %v\n", s.Name, time.Since(began).Round(time.Second))
		}
	}
	return nil
}
