package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

const trainUsage = `Usage: sdgo train STAGE --out DIR [flags]
       sdgo train eval --model DIR [flags]

Trains sd-mini, a small Stable Diffusion, from nothing on the shapes world
(package shapes), in stages as Stable Diffusion was built. Each stage reads
what the earlier ones wrote to DIR and adds its part; after the unet stage
DIR is a diffusers model folder that sdgo -m DIR runs.

Stages:
  bpe    learn the BPE vocabulary from the captions        -> DIR/tokenizer
  clip   train the text encoder contrastively              -> DIR/text_encoder
  vae    train the autoencoder, measure its scaling factor -> DIR/vae
  unet   train the noise predictor (DDPM, caption dropout) -> DIR/unet, DIR/scheduler, DIR/model_index.json
  all    all four in order
  eval   generate images for held-out captions and print the pixel scorer's table
  lora   fine-tune a LoRA of a trained model on one concept (sdgo train lora -h)

The same seed and flags give the same weights, byte for byte, on any number
of threads, wherever the same GEMM kernel runs (sdgo bench names it).
Checkpoints go to DIR/checkpoints every --checkpoint-every steps; --resume
continues from them. The binding recipe's flags default to the recipe of
the built-in weights, so "sdgo train all --out DIR --seed 1" remakes them
(docs/sd-mini.md).

Flags:
`

// runTrain runs `sdgo train STAGE`.
func runTrain(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "eval" {
		return runEval(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "lora" {
		return runTrainLoRA(args[1:], stdout, stderr) // train_lora.go
	}
	fs := newFlags("train", stderr)
	var o sdmini.Options
	fs.StringVar(&o.Dir, "out", "", "model folder to write (and to read earlier stages from)")
	fs.IntVar(&o.Steps, "steps", 0, "optimizer steps (default: the stage's; bpe: captions to learn from)")
	fs.IntVar(&o.Batch, "batch", 0, "samples per step (default: the stage's)")
	fs.Float64Var(&o.LR, "lr", 0, "peak learning rate (default: the stage's)")
	seed := fs.Uint64("seed", 1, "random seed")
	fs.BoolVar(&o.Resume, "resume", false, "continue from the stage's checkpoint in DIR/checkpoints")
	fs.IntVar(&o.Scenes, "scenes", 0, fmt.Sprintf("unet: distinct training scenes encoded up front (default %d)", sdmini.DefaultScenes))
	fs.IntVar(&o.CheckpointEvery, "checkpoint-every", 200, "steps between checkpoints")
	fs.IntVar(&o.LogEvery, "log-every", 20, "steps between progress lines")
	b := sdmini.BuiltIn() // the recipe knobs default to the built-in weights' recipe
	fs.Float64Var(&o.Recipe.PairShare, "pair-share", b.Recipe.PairShare, "binding recipe: share of two-shape scenes (0: the original world's, 0.3)")
	fs.BoolVar(&o.Recipe.DistinctPairs, "distinct-pairs", b.Recipe.DistinctPairs, "binding recipe: the two shapes of a pair have different colours (no \"two green triangles\")")
	fs.BoolVar(&o.Recipe.HoldOutPairs, "hold-out-pairs", b.Recipe.HoldOutPairs, "binding recipe: hold out pairs of coloured kinds whole, at every size and background")
	fs.Float64Var(&o.Recipe.RelationShare, "relation-share", b.Recipe.RelationShare, "binding recipe: share of two-shape captions worded with a relation (0: the original world's, a quarter)")
	fs.BoolVar(&o.HardNegatives, "hard-negatives", b.HardNegatives, "binding recipe: clip contrasts each pair image also with its caption's colours swapped")
	fs.Float64Var(&o.TextLR, "text-lr", b.TextLR, "binding recipe: unet also fine-tunes the text encoder, at this peak learning rate (0: frozen)")
	fs.IntVar(&o.LatentChannels, "latent-channels", 0, "vae: channels of the latents (default 4, SD's); the unet stage follows the VAE in DIR")
	fs.IntVar(&o.ForegroundMargin, "foreground-margin", b.ForegroundMargin, "vae: weigh the loss N pixels around each shape as on it, so colour blurred out of a shape costs as much as colour lost in it")
	fs.BoolVar(&o.LatentStats, "latent-stats", false, "vae: normalise each latent channel by its own mean and deviation (diffusers' latents_mean, latents_std) instead of one scaling factor")
	threads := fs.IntP("threads", "t", 0, "threads to use (default: all CPUs)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the training to this file (go tool pprof FILE); an existing file is not overwritten")
	if err := parse(fs, trainUsage+stageList(), args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("train: want one STAGE (%s), got %d arguments", strings.Join(stageNames(), ", "), fs.NArg())
	}
	name := fs.Arg(0)
	if !slices.Contains(stageNames(), name) {
		return usagef("train: unknown stage %q (want %s)", name, strings.Join(stageNames(), ", "))
	}
	switch {
	case o.Dir == "":
		return usagef("train: --out DIR is required")
	case o.Steps < 0 || o.Batch < 0 || o.LR < 0 || o.Scenes < 0:
		return usagef("train: --steps, --batch, --lr and --scenes must not be negative")
	case o.LatentChannels < 0 || o.LatentChannels > 64:
		return usagef("train: --latent-channels must be in [1, 64] (0: 4, SD's), got %d", o.LatentChannels)
	case o.LatentChannels > 0 && name != "vae" && name != "all":
		return usagef("train: --latent-channels is for the vae stage (train vae or all), not %s: later stages follow the VAE in DIR", name)
	case o.ForegroundMargin < 0 || o.ForegroundMargin > sdmini.ImageSize/2:
		return usagef("train: --foreground-margin must be in [0, %d] pixels, got %d", sdmini.ImageSize/2, o.ForegroundMargin)
	case fs.Changed("foreground-margin") && name != "vae" && name != "all":
		return usagef("train: --foreground-margin is for the vae stage (train vae or all), not %s", name)
	case o.LatentStats && name != "vae" && name != "all":
		return usagef("train: --latent-stats is for the vae stage (train vae or all), not %s: later stages follow the VAE in DIR", name)
	case !(o.Recipe.PairShare >= 0 && o.Recipe.PairShare <= 1) || !(o.Recipe.RelationShare >= 0 && o.Recipe.RelationShare <= 1):
		return usagef("train: --pair-share and --relation-share must be in [0, 1]")
	case o.CheckpointEvery <= 0 || o.LogEvery <= 0:
		return usagef("train: --checkpoint-every and --log-every must be positive")
	case math.IsNaN(o.LR) || o.LR > 1:
		return usagef("train: --lr must be a number in [0, 1] (0: the stage's), got %g: larger rates diverge at once", o.LR)
	case !(o.TextLR >= 0 && o.TextLR <= 1):
		return usagef("train: --text-lr must be a number in [0, 1] (0: frozen), got %g", o.TextLR)
	case fs.Changed("text-lr") && name != "unet" && name != "all":
		return usagef("train: --text-lr is for the unet stage (train unet or all), not %s", name)
	case *threads < 0:
		return usagef("--threads must not be negative, got %d", *threads)
	}
	if *threads > 0 {
		nn.SetThreads(*threads)
	}
	o.Seed, o.Log = *seed, stderr
	if *profile != "" {
		stop, err := startCPUProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if name == "all" {
		return sdmini.TrainAll(o)
	}
	for _, s := range sdmini.Stages() {
		if s.Name == name {
			return s.Run(o)
		}
	}
	return nil
}

func stageNames() []string {
	var names []string
	for _, s := range sdmini.Stages() {
		names = append(names, s.Name)
	}
	return append(names, "all", "eval")
}

// stageList prints each stage's default steps, batch and learning rate.
func stageList() string {
	var b strings.Builder
	b.WriteString("\nDefaults:\n")
	for _, s := range sdmini.Stages() {
		d := s.Defaults
		if s.Name == "bpe" {
			fmt.Fprintf(&b, "  %-5s %d captions\n", s.Name, d.Steps)
			continue
		}
		fmt.Fprintf(&b, "  %-5s steps %d, batch %d, lr %g\n", s.Name, d.Steps, d.Batch, d.LR)
	}
	return b.String() + "\n"
}

const evalUsage = `Usage: sdgo train eval --model DIR [flags]

Generates one 64×64 image for each of N held-out captions (attribute
combinations no training image shows) and prints the share of images the
shapes package's pixel scorer finds right, per attribute: N captions of one
shape and N of two ("a red circle above a blue square"), scored object by
object and as a pair (--objects 1 or 2 for one kind only). --bind steers
every image with SynGen's attention guidance. --reconstruct scores the
autoencoder instead: a scene of each caption, encoded and decoded, what
the VAE can carry of it (generated images seldom do better); a folder the
vae stage has just written will do.

Flags:
`

// runEval runs `sdgo train eval` (and is ready to be `sdgo eval`).
func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	var o sdmini.EvalOptions
	d := sdmini.DefaultEvalOptions()
	model := fs.StringP("model", "m", "", "sd-mini model folder (written by sdgo train; default: the built-in one)")
	fs.IntVarP(&o.N, "n", "n", d.N, "held-out captions")
	fs.IntVar(&o.Steps, "steps", d.Steps, "sampling steps")
	fs.Float64Var(&o.CFGScale, "cfg-scale", d.CFGScale, "classifier-free guidance scale")
	fs.StringVar(&o.Sampler, "sampler", d.Sampler, "sampler")
	fs.Uint64Var(&o.Seed, "seed", d.Seed, "seed of the captions' order and the images")
	fs.StringVar(&o.Grid, "grid", "", "write a PNG grid of the first 64 images here")
	fs.IntVar(&o.Objects, "objects", 0, "captions of 1 shape, 2 shapes (held-out pairs), or 0: both, --n of each")
	fs.BoolVar(&o.WholePairs, "whole-pairs", false, "two-shape captions only of pairs held out whole (for models trained with --hold-out-pairs)")
	fs.BoolVar(&o.Reconstruct, "reconstruct", false, "score the model's autoencoder: a scene of each caption encoded and decoded instead of generated (what the VAE can carry)")
	var bf bindFlags
	bf.add(fs)
	threads := fs.IntP("threads", "t", 0, "threads to use (default: all CPUs)")
	if err := parse(fs, evalUsage, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("eval: unexpected argument %q", fs.Arg(0))
	case o.N <= 0 || o.Steps <= 0:
		return usagef("eval: --n and --steps must be positive")
	case pipeline.CFGScaleRange.Check(o.CFGScale) != nil:
		return usagef("eval: --cfg-scale %v", pipeline.CFGScaleRange.Check(o.CFGScale))
	case o.Objects < 0 || o.Objects > 2:
		return usagef("eval: --objects must be 1, 2 or 0 (both), got %d", o.Objects)
	case o.Reconstruct && bf.on:
		return usagef("eval: --reconstruct scores the autoencoder alone: --bind does not apply")
	case *threads < 0:
		return usagef("--threads must not be negative, got %d", *threads)
	}
	if *threads > 0 {
		nn.SetThreads(*threads)
	}
	if *model == "" { // the built-in sd-mini
		p, err := sdmini.Path()
		if err != nil {
			return err
		}
		*model = p
	}
	o.Log = stderr
	b, err := bf.binder(*model)
	if err != nil {
		return err
	}
	o.Bind = b
	ev, err := sdmini.Evaluate(*model, o)
	if err != nil {
		return err
	}
	what := "per image"
	if o.Reconstruct {
		what = "per image, the autoencoder's reconstructions of scenes of them"
	}
	if ev.Table != "" {
		fmt.Fprintf(stdout, "%d held-out captions of one shape, %v %s\n%s", len(ev.Results), ev.PerImage.Round(1e6), what, ev.Table)
	}
	if ev.PairTable != "" {
		if ev.Table != "" {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%d held-out captions of two shapes, %v %s\n%s", len(ev.PairResults), ev.PerImage.Round(1e6), what, ev.PairTable)
	}
	return nil
}

// startCPUProfile starts a CPU profile into a new file at path and returns
// the function that ends it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
