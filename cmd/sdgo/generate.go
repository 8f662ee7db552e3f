package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/image/draw"

	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

const generateUsage = `Usage: sdgo [-m MODEL] -p PROMPT [flags]

Makes images from a prompt with a Stable Diffusion 1.x/2.x/XL model: a single-file
checkpoint (.safetensors or .ckpt, original layout; pass --tokenizer too) or a
diffusers folder (with model_index.json). Without -m, sdgo uses sd-mini, the
small model it trained itself and carries built in: 64×64 images of coloured
shapes ("a large red circle on the left on a white background").
With -i, starts from an image (img2img).
` + inpaintUsage + `

Prompts use AUTOMATIC1111's syntax: (word) and (word:1.3) emphasise, [word]
de-emphasises, BREAK starts a new 75-token chunk; longer prompts are split into
chunks automatically.

Samplers: ` + "ddpm, ddim, pndm, lms, euler, euler_a, heun, dpm++2m, lcm" + ` (--karras for Karras sigmas)

Flags:
`

// genFlags holds the generate command's flag values.
type genFlags struct {
	lora loraFlags // --lora-model-dir, --embd-dir, --lora, --lora-skip-unknown (lora_flags.go)

	prompt, negative, model, vaePath, tokenizer, config string
	steps, width, height, clipSkip, batch, threads      int
	cfg, strength                                       float64
	seed                                                int64
	sampler, rngName, initImg, output, preview, taesd   string
	dumpStages, prediction                              string
	karras, overwrite, quiet, fp16                      bool
	xl                                                  xlFlags // SDXL and Turbo: sdxl.go

	inpaint      inpaintFlags // --mask, --outpaint, … (inpaint.go)
	bind         bindFlags    // --bind, … (bind.go)
	maxMemory    string
	vaeTiling    bool
	vaeTilingSet bool // --vae-tiling was given (=false: never tile)
}

func runGenerate(args []string, stdout, stderr io.Writer) (err error) {
	var f genFlags
	fs := newFlags("sdgo", stderr)
	fs.StringVarP(&f.prompt, "prompt", "p", "", "the prompt")
	fs.StringVarP(&f.negative, "negative-prompt", "n", "", "what the image should not show")
	fs.StringVarP(&f.model, "model", "m", "", "model: single-file checkpoint or diffusers folder (default: the built-in sd-mini, 64×64)")
	fs.StringVar(&f.vaePath, "vae", "", "use this autoencoder file instead of the model's (e.g. vae-ft-mse-840000-ema-pruned.safetensors)")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder (vocab.json + merges.txt) or bpe_simple_vocab_16e6.txt.gz, for single-file checkpoints")
	fs.StringVar(&f.config, "config", "", "diffusers folder whose component configs describe a single-file checkpoint (non-standard sizes)")
	f.lora.register(fs)
	fs.IntVar(&f.steps, "steps", 20, "sampling steps")
	fs.Float64Var(&f.cfg, "cfg-scale", 7.5, "classifier-free guidance scale (1 disables guidance)")
	fs.Int64VarP(&f.seed, "seed", "s", 42, "random seed; -1 picks one at random")
	fs.IntVarP(&f.width, "width", "W", 0, "image width in pixels, a multiple of 8 (default: the model's native size)")
	fs.IntVarP(&f.height, "height", "H", 0, "image height in pixels, a multiple of 8 (default: the model's native size)")
	fs.StringVar(&f.sampler, "sampler", "euler_a", "sampler: "+strings.Join(scheduler.Names(), ", "))
	fs.StringVar(&f.sampler, "scheduler", "euler_a", "the same as --sampler (diffusers' word: --scheduler euler_a)")
	fs.BoolVar(&f.karras, "karras", false, "use Karras sigmas (lms, euler, euler_a, heun, dpm++2m)")
	fs.IntVar(&f.clipSkip, "clip-skip", 1, "use the text encoder's N-th layer from the end (2 = penultimate)")
	fs.StringVarP(&f.initImg, "init-img", "i", "", "start from this image (img2img)")
	fs.Float64Var(&f.strength, "strength", 0.75, "img2img: how much to change the init image (0…1)")
	fs.StringVarP(&f.output, "output", "o", "output.png", "output PNG; with --batch-count > 1, NAME_2.png, NAME_3.png, … follow")
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace existing output files")
	fs.IntVar(&f.batch, "batch-count", 1, "number of images, made one after another with seeds seed, seed+1, …")
	fs.IntVarP(&f.threads, "threads", "t", 0, "threads to use (default: all CPUs)")
	fs.StringVar(&f.rngName, "rng", string(pipeline.TorchCPU), "noise generator: torch-cpu (diffusers' seeds) or cuda (AUTOMATIC1111's and sd.cpp's GPU seeds)")
	fs.BoolVar(&f.fp16, "fp16", false, "keep an fp32 checkpoint's weights in half precision in memory (half the memory; fp16 files always stay half)")
	fs.StringVar(&f.prediction, "prediction", "", "override the model's prediction type: epsilon or v (SD 2.x 768-v single files need v)")
	fs.StringVar(&f.preview, "preview", "", "write a preview of the image to this PNG after every step")
	fs.StringVar(&f.taesd, "taesd", "", "TAESD decoder weights (taesd_decoder.safetensors or .pth): fast, lower-quality final decoding, and previews")
	fs.StringVar(&f.dumpStages, "dump-stages", "", "write every stage's result to DIR/stages.safetensors (and per-step previews)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	f.bind.add(fs)
	f.xl.register(fs)
	f.inpaint.register(fs)
	fs.StringVar(&f.maxMemory, "max-memory", "", "refuse jobs whose estimated peak memory exceeds this (e.g. 6GB; default: the machine's available memory)")
	fs.BoolVar(&f.vaeTiling, "vae-tiling", false, "decode the image tile by tile: bounded memory for large images, approximate at the seams (from 1024×1024 on by itself when the decode would set the peak memory; --vae-tiling=false keeps it whole)")
	if err := parse(fs, generateUsage, args, stdout); err != nil {
		return err
	}
	f.vaeTilingSet = fs.Changed("vae-tiling")
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (quote the prompt and pass it with -p)", fs.Arg(0))
	}
	f.xl.negativeGiven = fs.Changed("negative-prompt")
	if err := f.validate(); err != nil {
		return err
	}
	if err := f.lora.validate(); err != nil {
		return err
	}
	if f.threads > 0 {
		nn.SetThreads(f.threads)
	}
	if f.model == "" {
		// No model given: the sd-mini model built into the binary.
		path, err := sdmini.Path()
		if err != nil {
			return fmt.Errorf("no -m/--model given, and %w", err)
		}
		f.model = path
		if !fs.Changed("cfg-scale") {
			f.cfg = sdmini.DefaultCFGScale
		}
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	if err := f.lora.apply(&opts, stderr); err != nil {
		return err
	}
	outputs, err := f.outputPaths()
	if err != nil {
		return err
	}
	cleanup, err := f.sideOutputs(outputs)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()

	start := time.Now()
	prediction := scheduler.Prediction("")
	switch f.prediction {
	case "epsilon", "eps":
		prediction = scheduler.Epsilon
	case "v", "v_prediction":
		prediction = scheduler.VPrediction
	}
	loadOpts := pipeline.LoadOptions{
		Tokenizer: f.tokenizer, VAE: f.vaePath, Config: f.config, Prediction: prediction, Half: f.fp16,
	}
	if f.vaeTiling {
		opts.VAETiling = &vae.Tiling{} // the VAE's DefaultTiling
	} else if f.vaeTilingSet {
		opts.VAEUntiled = true // --vae-tiling=false: not even on its own
	}
	if err := f.bind.validate(); err != nil {
		return err
	}
	f.xl.loadOptions(&loadOpts)
	f.lora.load(&loadOpts)
	// TAESD (a few MB) is loaded first: the estimate counts its decode,
	// not the VAE's.
	var taesd *vae.TinyDecoder
	if f.taesd != "" {
		if taesd, err = loadTAESD(f.taesd); err != nil {
			return err
		}
		opts.Decoder = taesd
	}
	if err := f.checkMemory(loadOpts, opts); err != nil {
		return err
	}
	model, err := pipeline.Load(f.model, loadOpts)
	if err != nil {
		return err
	}
	defer model.Close()
	tuneGC(model)
	warnSDMiniWords(stderr, model, f.prompt)
	if !f.quiet {
		fmt.Fprintf(stderr, "loaded %s (%v) in %.1fs\n", model.Name, model.Version, time.Since(start).Seconds())
	}

	if opts.Bind, err = f.bind.binder(f.model); err != nil {
		return err
	}
	if f.preview != "" || f.dumpStages != "" {
		prev := &previewer{taesd: taesd}
		opts.Step = func(img, step int, latents *nn.Tensor) {
			if img != 0 && f.dumpStages != "" && f.preview == "" {
				return
			}
			pic := prev.render(latents, opts.Width, opts.Height)
			if f.preview != "" {
				if err := atomicfile.Write(f.preview, mustPNG(pic), true); err != nil && !f.quiet {
					fmt.Fprintf(stderr, "\nsdgo: --preview: %v\n", err)
				}
			}
			if f.dumpStages != "" && img == 0 {
				p := filepath.Join(f.dumpStages, fmt.Sprintf("step%03d.png", step))
				if err := atomicfile.Write(p, mustPNG(pic), f.overwrite); err != nil && !f.quiet {
					fmt.Fprintf(stderr, "\nsdgo: --dump-stages: %v\n", err)
				}
			}
		}
		if f.dumpStages != "" {
			if err := os.MkdirAll(f.dumpStages, 0o755); err != nil {
				return fmt.Errorf("--dump-stages: %w", err)
			}
			opts.Stages = &pipeline.Stages{}
		}
	}
	bar := newProgressBar(stderr, f.quiet)
	opts.Progress = bar.update

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := model.Generate(ctx, opts)
	bar.done()
	for i, r := range results {
		if werr := pipeline.WritePNG(outputs[i], r.Image, r.Parameters, f.overwrite); werr != nil {
			return fmt.Errorf("-o: %w", werr)
		}
		fmt.Fprintf(stdout, "%s (seed %d)\n", outputs[i], r.Seed)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted after %d of %d images", len(results), len(outputs))
	}
	if err != nil {
		return err
	}
	if opts.Stages != nil {
		if err := opts.Stages.Write(f.dumpStages, f.overwrite); err != nil {
			return err
		}
	}
	return nil
}

// tuneGC sets the garbage collector for the model unless GOGC says otherwise:
// a full-size model's activations are large and short-lived, so collect when
// the heap has grown by a quarter, not doubled, which lowers the peak memory
// of a 512×512 image by hundreds of MB at little CPU cost. Small models (sd-mini)
// allocate fast and would pay for it, so they keep Go's default.
func tuneGC(m *pipeline.Model) {
	if os.Getenv("GOGC") == "" && m.CheckpointBytes() >= 256<<20 {
		debug.SetGCPercent(25)
	}
}

// validate checks the flags that need no model, naming the bad one.
func (f *genFlags) validate() error {
	switch {
	case f.steps < 1:
		return usagef("--steps must be at least 1, got %d", f.steps)
	case f.width < 0 || f.width%8 != 0:
		return usagef("-W/--width must be a positive multiple of 8, got %d", f.width)
	case f.height < 0 || f.height%8 != 0:
		return usagef("-H/--height must be a positive multiple of 8, got %d", f.height)
	case f.batch < 1:
		return usagef("--batch-count must be at least 1, got %d", f.batch)
	case f.clipSkip < 1:
		return usagef("--clip-skip must be at least 1, got %d", f.clipSkip)
	case !(f.strength > 0 && f.strength <= 1): // NaN too
		return usagef("--strength must be in (0, 1], got %g", f.strength)
	case f.seed < -1:
		return usagef("-s/--seed must be -1 (random) or a non-negative number, got %d", f.seed)
	case f.threads < 0:
		return usagef("--threads must not be negative, got %d", f.threads)
	case f.rngName != string(pipeline.TorchCPU) && f.rngName != string(pipeline.CUDA):
		return usagef("--rng must be torch-cpu or cuda, got %q", f.rngName)
	case f.prediction != "" && f.prediction != "epsilon" && f.prediction != "eps" && f.prediction != "v" && f.prediction != "v_prediction":
		return usagef("--prediction must be epsilon or v, got %q", f.prediction)
	case !strings.EqualFold(filepath.Ext(f.output), ".png"):
		return usagef("-o/--output must name a .png file, got %q", f.output)
	}
	if _, err := scheduler.New(f.sampler, scheduler.SD15(), f.karras); err != nil {
		return usagef("--sampler: %v", err)
	}
	if err := f.checkNumbers(); err != nil {
		return err
	}
	if err := f.xl.validate(); err != nil {
		return err
	}
	for _, p := range []struct{ flag, path string }{{"-m/--model", f.model}, {"--vae", f.vaePath}, {"-i/--init-img", f.initImg}, {"--taesd", f.taesd}, {"--tokenizer", f.tokenizer}, {"--config", f.config}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return usagef("%s: %v", p.flag, err)
		}
	}
	return nil
}

// options turns the flags into pipeline options.
func (f *genFlags) options() (pipeline.Options, error) {
	seed := uint64(f.seed)
	if f.seed == -1 {
		seed = rand.Uint64() >> 32 // 32 bits, as torch seeds are used
	}
	o := pipeline.Options{
		Prompt: f.prompt, NegativePrompt: f.negative, Width: f.width, Height: f.height,
		Steps: f.steps, CFGScale: f.cfg, Seed: seed, BatchCount: f.batch, Sampler: f.sampler,
		Karras: f.karras, ClipSkip: f.clipSkip, RNG: pipeline.RNG(f.rngName),
	}
	if f.cfg == 0 {
		o.CFGScale = 1 // 0 would mean "default" to the library
	}
	if err := f.xl.apply(&o); err != nil {
		return o, err
	}
	if f.initImg != "" {
		img, err := pipeline.ReadImage(f.initImg)
		if err != nil {
			return o, fmt.Errorf("-i/--init-img: %w", err)
		}
		o.InitImage, o.Strength = img, f.strength
		if o.Width == 0 && o.Height == 0 { // the image's size, rounded down to multiples of 8
			b := img.Bounds()
			o.Width, o.Height = b.Dx()/8*8, b.Dy()/8*8
		}
	}
	if err := f.inpaint.apply(&o, f.width, f.height); err != nil {
		return o, err
	}
	return o, nil
}

// outputPaths lists the files the images go to, checking up front that none
// would be overwritten without --overwrite (so no work is lost at the end).
// When the default name is taken, the next free output-N.png is used.
func (f *genFlags) outputPaths() ([]string, error) {
	base := strings.TrimSuffix(f.output, filepath.Ext(f.output))
	ext := filepath.Ext(f.output)
	names := func(stem string) []string {
		out := []string{stem + ext}
		for i := 2; i <= f.batch; i++ {
			out = append(out, fmt.Sprintf("%s_%d%s", stem, i, ext))
		}
		return out
	}
	taken := func(paths []string) string {
		for _, p := range paths {
			if _, err := os.Lstat(p); err == nil {
				return p
			}
		}
		return ""
	}
	paths := names(base)
	if f.overwrite {
		return paths, nil
	}
	if t := taken(paths); t != "" {
		if f.output != "output.png" {
			return nil, usagef("-o/--output: %s already exists (pass --overwrite to replace it)", t)
		}
		for i := 1; ; i++ {
			paths = names(fmt.Sprintf("%s-%d", base, i))
			if taken(paths) == "" {
				break
			}
		}
	}
	if dir := filepath.Dir(paths[0]); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, usagef("-o/--output: folder %s does not exist", dir)
		}
	}
	return paths, nil
}

// previewer turns latents into a quick picture: TAESD when given, else a
// fixed linear map from the 4 latent channels to RGB.
type previewer struct {
	taesd *vae.TinyDecoder
}

// loadTAESD loads a TAESD decoder (taesd_decoder.safetensors or .pth).
func loadTAESD(path string) (*vae.TinyDecoder, error) {
	src, _, err := weights.OpenAny(path)
	if err != nil {
		return nil, fmt.Errorf("--taesd: %w", err)
	}
	d, err := vae.LoadTinyDecoder(src)
	if err != nil {
		return nil, fmt.Errorf("--taesd %s: %w", path, err)
	}
	return d, nil
}

func (p *previewer) render(latents *nn.Tensor, w, h int) image.Image {
	if p.taesd != nil {
		if x, err := p.taesd.DecodeLatents(latents); err == nil {
			if imgs, err := vae.ToImages(x); err == nil {
				return imgs[0]
			}
		}
	}
	small := vae.Preview(latents) // (1, 4, h, w) -> h×w RGB
	if w <= 0 || h <= 0 {
		return small
	}
	big := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(big, big.Bounds(), small, small.Bounds(), draw.Src, nil)
	return big
}

func mustPNG(img image.Image) []byte {
	b, err := pipeline.EncodePNG(img, "", "")
	if err != nil {
		panic(err) // encoding an in-memory NRGBA cannot fail
	}
	return b
}
