package pipeline

import (
	"context"
	"fmt"
	"image"
	"runtime"
	"strings"
	"time"

	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/rng"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/vae"
)

// RNG names a random number generator for the initial noise and the
// stochastic samplers.
type RNG string

// The generators. TorchCPU is the default: it draws exactly what diffusers
// draws with a CPU generator (torch.Generator("cpu").manual_seed(seed)), so a
// seed reproduces diffusers' image on any machine. CUDA draws what torch
// draws on an NVIDIA GPU (Philox), which AUTOMATIC1111's and
// stable-diffusion.cpp's default seeds use.
const (
	TorchCPU RNG = "torch-cpu"
	CUDA     RNG = "cuda"
)

// Options are the settings of one generation.
type Options struct {
	Prompt         string // A1111 emphasis syntax and prompts past 75 tokens are supported
	NegativePrompt string
	Width, Height  int     // image size in pixels; 0 means the model's native size
	Steps          int     // sampler steps (default 20)
	CFGScale       float64 // classifier-free guidance scale; ≤ 1 disables guidance (default 7.5)
	Seed           uint64
	BatchCount     int    // images made one after another, with seeds Seed, Seed+1, …
	Sampler        string // scheduler name (scheduler.Names); default "euler_a"
	Karras         bool   // Karras sigmas
	ClipSkip       int    // 1 (default): last layer; 2: penultimate; …
	RNG            RNG    // default TorchCPU

	// InitImage and Strength make img2img: the image is encoded, noised to
	// Strength (0…1) and denoised from there.
	InitImage image.Image
	Strength  float64

	// Inpaint's Mask makes inpainting of InitImage (white repaints, black
	// keeps), with AUTOMATIC1111's settings: see [Inpaint].
	Inpaint

	// Latents, when set, replaces the first image's initial noise x_T
	// (1, 4, H/8, W/8), before scaling by the sampler's initial sigma.
	Latents *nn.Tensor

	// Progress, when set, is called after every step.
	Progress func(Progress)
	// Step, when set, is called after every step with the current latents
	// (for previews); it must not keep or modify them.
	Step func(image, step int, latents *nn.Tensor)
	// Stages, when set, collects every stage's result (see Stages).
	Stages *Stages
	// Inspect, when set, is called after every step with all the step
	// computed (see StepDetail); it must not keep or modify the tensors.
	Inspect func(StepDetail)
	// Decoder, when set, decodes the final latents instead of the model's
	// VAE: a TAESD decoder (vae.TinyDecoder) is much faster, at some cost
	// in quality.
	Decoder LatentDecoder
	// VAETiling, when set, decodes with the model's VAE tile by tile
	// (vae.Model.DecodeTiled), which bounds the decoder's memory by the
	// tile size whatever the image size; see vae.Tiling. A zero Tiling
	// means the VAE's DefaultTiling.
	VAETiling *vae.Tiling
	// VAEUntiled keeps the decode whole where Generate would tile it on
	// its own (see AutoTileMinPixels).
	VAEUntiled bool

	// Loras are LoRA files applied besides the prompt's <lora:NAME:W> tags
	// (which name files of LoadOptions.LoraDir and are removed from the
	// text before it is encoded). Several adapters add up.
	Loras []LoraFile
	// LoraSkipUnknown skips, with a warning, LoRA names not found and
	// adapter modules the model does not have or whose shapes are another
	// model's, instead of failing.
	LoraSkipUnknown bool
	// Warn, when set, receives warnings (skipped adapters, unreadable
	// embedding files).
	Warn func(msg string)

	adapters *generation // set by Generate: the adapters in use
	usedTI   map[*lora.Embedding]bool
	// Bind, when set, steers the latents before each step by the gradient
	// of a cross-attention loss (package bind: SynGen, Attend-and-Excite).
	Bind Binder

	// SDXL's micro-conditioning (add_time_ids), in pixels: the size the
	// image should look as if it was cropped from, the crop's top-left
	// corner, and the target size. 0 means diffusers' defaults: the output
	// size, crop 0, 0.
	OriginalWidth, OriginalHeight int
	CropTop, CropLeft             int
	TargetWidth, TargetHeight     int
	// EncodeEmptyNegative encodes an empty NegativePrompt like any prompt
	// (diffusers' negative_prompt=""); otherwise an SDXL model's negative
	// conditioning is zeros (force_zeros_for_empty_prompt with no negative
	// prompt).
	EncodeEmptyNegative bool

	xl *xlCond // SDXL's pooled embeddings and time ids, set by withDefaults and filled by conditioning
}

// LatentDecoder turns the U-Net's latents (B, 4, h, w) into images
// (B, 3, H, W) in about [-1, 1]: vae.Model and vae.TinyDecoder are both one.
type LatentDecoder interface {
	DecodeLatents(latents *nn.Tensor) (*nn.Tensor, error)
}

// Progress reports how far a generation is.
type Progress struct {
	Image, Images int           // which image of the batch (from 0), and how many
	Step, Steps   int           // steps done for this image, and its total
	Elapsed       time.Duration // since the generation started
}

// Result is one generated image with the settings that made it.
type Result struct {
	Image *image.NRGBA
	Seed  uint64
	// Parameters are the settings in AUTOMATIC1111's text format, which the
	// sdgo command stores in the PNG's "parameters" chunk.
	Parameters string
}

// withDefaults fills unset options and validates them against the model.
func (m *Model) withDefaults(o Options) (Options, error) {
	f := m.VAEFactor()
	if o.Width == 0 {
		o.Width = m.NativeSize()
	}
	if o.Height == 0 {
		o.Height = m.NativeSize()
	}
	if o.Steps == 0 {
		o.Steps = 20
	}
	if o.CFGScale == 0 {
		o.CFGScale = 7.5
	}
	if o.BatchCount == 0 {
		o.BatchCount = 1
	}
	if o.Sampler == "" {
		o.Sampler = "euler_a"
	}
	if o.ClipSkip == 0 {
		o.ClipSkip = 1
	}
	if o.RNG == "" {
		o.RNG = TorchCPU
	}
	// One latent cell is f×f pixels. The latent need not halve cleanly at
	// every U-Net level: a downsampler rounds up and the upsampler takes the
	// size of the skip it meets, as diffusers does (forward_upsample_size),
	// so 600×800 works on SD 1.5 as in diffusers and AUTOMATIC1111.
	switch {
	case o.Width <= 0 || o.Height <= 0 || o.Width%f != 0 || o.Height%f != 0:
		return o, fmt.Errorf("width and height must be positive multiples of %d for this model, got %dx%d", f, o.Width, o.Height)
	case o.Steps < 1 || o.Steps > 10000:
		return o, fmt.Errorf("steps must be between 1 and 10000, got %d", o.Steps)
	case o.BatchCount < 1:
		return o, fmt.Errorf("batch count must be at least 1, got %d", o.BatchCount)
	case o.ClipSkip < 1 || o.ClipSkip+m.TextSkip-1 > m.Text.Config.Layers:
		return o, fmt.Errorf("clip skip must be between 1 and %d, got %d", m.Text.Config.Layers-m.TextSkip+1, o.ClipSkip)
	case o.RNG != TorchCPU && o.RNG != CUDA:
		return o, fmt.Errorf("unknown rng %q (want %s or %s)", o.RNG, TorchCPU, CUDA)
	case o.InitImage != nil && (o.Strength <= 0 || o.Strength > 1):
		return o, fmt.Errorf("strength must be in (0, 1] for img2img, got %g", o.Strength)
	}
	if err := o.checkNumbers(); err != nil {
		return o, err
	}
	if err := m.checkInpaint(o); err != nil {
		return o, err
	}
	if _, err := scheduler.New(o.Sampler, m.Scheduler, o.Karras); err != nil {
		return o, err
	}
	if m.Text2 != nil {
		if err := o.checkMicro(); err != nil {
			return o, err
		}
		o.xl = &xlCond{}
	}
	if m.autoTile(o) {
		o.VAETiling = autoTiling(m.VAE.Config)
	}
	return o, nil
}

// AutoTileMinPixels is the image area from which Generate decodes tile by
// tile (vae.Model.DecodeTiled, tiles of at most 512×512 pixels overlapping
// by a quarter, one statistics pass) when the
// options choose neither tiling nor Options.VAEUntiled: at 1024×1024 and
// above, when the memory estimate says the untiled decode would be the
// run's peak (its activations outgrow the U-Net stage). The tiles share
// the whole image's GroupNorm statistics and are blended over their
// overlap, so no seams show; the result differs from the untiled decode
// by a little (see TestAutoTiledDecode), which is why smaller images,
// where the decode does not set the peak, stay untiled as diffusers
// decodes them.
const AutoTileMinPixels = 1024 * 1024

// autoTiling is the tiling Generate chooses on its own for a VAE of config
// c: its DefaultTiling with tiles of at most 64 latent pixels (512 image
// pixels; SDXL's VAE config says 1024, one tile for a 1024² image).
func autoTiling(c vae.Config) *vae.Tiling {
	t := vae.Tiling{Tile: 64, Overlap: 16, StatsPasses: 1}
	if d := max(1, c.SampleSize/c.ScaleFactor()); d < t.Tile {
		t = vae.Tiling{Tile: d, Overlap: d / 4, StatsPasses: 1}
	}
	return &t
}

// autoTile reports whether Generate tiles o's decode on its own.
func (m *Model) autoTile(o Options) bool {
	return m.mem != nil && m.mem.autoTile(o, m.load.Resident, gcPercent())
}

// autoTile reports whether Generate tiles o's decode on its own: o leaves
// the choice to it, the image is at least AutoTileMinPixels, the untiled
// decode is the estimate's peak stage and tiles lower the peak.
func (mm *memModel) autoTile(o Options, resident bool, gc int) bool {
	if o.VAETiling != nil || o.Decoder != nil || o.VAEUntiled || o.Width*o.Height < AutoTileMinPixels {
		return false
	}
	e, err := mm.estimateAs(o, resident, gc)
	if err != nil || e.Stage != "VAE" {
		return false
	}
	o.VAETiling = autoTiling(mm.vae)
	tiled, err := mm.estimateAs(o, resident, gc)
	return err == nil && tiled.Peak < e.Peak
}

// VAEFactor is how many pixels one latent cell covers per side (8 for SD).
func (m *Model) VAEFactor() int { return 1 << (len(m.VAE.Config.BlockOut) - 1) }

// UNetFactor is how much the U-Net downsamples its latent (8 for SD).
func (m *Model) UNetFactor() int { return 1 << (len(m.UNet.Config.BlockOutChannels) - 1) }

// NativeSize is the image side the model was trained at (512 for SD 1.5).
func (m *Model) NativeSize() int {
	if s := m.UNet.Config.SampleSize; s > 0 {
		return s * m.VAEFactor()
	}
	return 512
}

func (o Options) noise(seed uint64) rng.Source {
	if o.RNG == CUDA {
		return rng.NewPhilox(seed)
	}
	return rng.NewTorchCPU(seed)
}

// Generate makes opts.BatchCount images. It stops between steps when ctx is
// cancelled and returns ctx's error with the images finished so far.
func (m *Model) Generate(ctx context.Context, opts Options) ([]Result, error) {
	o, err := m.withDefaults(opts)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	g, err := m.prepareAdapters(o)
	if err != nil {
		return nil, err
	}
	defer g.release()
	o.adapters, o.usedTI = g, map[*lora.Embedding]bool{}
	text := o
	text.Prompt = g.prompt // without its <lora:…> tags
	cond, uncond, err := m.conditioning(text)
	if err != nil {
		return nil, err
	}
	// The text encoder is done: give its pages of the checkpoint back (they
	// are read again from the file if ever needed), so they do not add to
	// the U-Net's peak.
	m.ReleasePages()
	var results []Result
	for b := 0; b < o.BatchCount; b++ {
		seed := o.Seed + uint64(b)
		img, err := m.generateOne(ctx, o, b, seed, cond, uncond, start)
		if err != nil {
			return results, err
		}
		results = append(results, Result{Image: img, Seed: seed, Parameters: m.parameters(o, seed)})
	}
	return results, nil
}

// generateOne runs the sampling loop for one image.
func (m *Model) generateOne(ctx context.Context, o Options, index int, seed uint64, cond, uncond *nn.Tensor, start time.Time) (*image.NRGBA, error) {
	sched, err := scheduler.New(o.Sampler, m.Scheduler, o.Karras)
	if err != nil {
		return nil, err
	}
	if err := sched.SetTimesteps(o.Steps); err != nil {
		return nil, err
	}
	f := m.VAEFactor()
	shape := []int{1, m.latentChannels(), o.Height / f, o.Width / f}
	noise := o.noise(seed)
	first := 0
	var latents *nn.Tensor
	var inp *inpainting
	if o.Mask != nil || m.IsInpainting() {
		if inp, latents, first, err = m.startInpaint(o, sched, noise, index); err != nil {
			return nil, err
		}
	} else if o.InitImage != nil {
		// img2img: encode the image, then noise it to the level of the first step run.
		x := vae.ImageToTensor(o.InitImage, o.Width, o.Height) // (1, 3, H, W) in [-1, 1]
		dist, err := m.VAE.Encode(x)
		if err != nil {
			return nil, err
		}
		x0 := m.VAE.Scale(dist.Sample(noise)) // (1, 4, H/8, W/8), the U-Net's latent scale
		first = sched.Start(o.Strength)
		latents = nn.New(shape...)
		if first < len(sched.Timesteps()) {
			eps := nn.New(shape...)
			noise.Normal(eps.Data)
			if err := sched.AddNoise(first, latents.Data, x0.Data, eps.Data); err != nil {
				return nil, err
			}
		} else {
			copy(latents.Data, x0.Data) // strength so low that no step runs
		}
	} else {
		latents = nn.New(shape...)
		if o.Latents != nil && index == 0 {
			if !nn.SameShape(o.Latents.Shape, shape) {
				return nil, fmt.Errorf("initial latents have shape %v, want %v", o.Latents.Shape, shape)
			}
			copy(latents.Data, o.Latents.Data)
		} else {
			noise.Normal(latents.Data) // x_T ~ N(0, I)
		}
		nn.Scale(latents, float32(sched.InitNoiseSigma()))
	}
	o.Stages.add(index, "latents_init", latents)

	guided := o.CFGScale > 1
	ctxT := cond // (1, 77·k, D)
	if guided {
		ctxT = catBatch(uncond, cond) // (2, 77·k, D): [uncond, cond], as diffusers orders it
	}
	in := nn.New(shape...)
	steps := sched.Timesteps()
	for i := first; i < len(steps); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.Bind != nil {
			if inp != nil {
				return nil, fmt.Errorf("bind: not supported with inpainting")
			}
			if err := m.steer(o, sched, i, len(steps), steps[i], latents, cond); err != nil {
				return nil, err
			}
		}
		if err := sched.ScaleModelInput(i, in.Data, latents.Data); err != nil {
			return nil, err
		}
		x := inp.modelInput(in) // (1, 4, h, w), or (1, 9, h, w) for an inpainting U-Net
		if guided {
			x = catBatch(x, x) // (1, C, h, w) -> (2, C, h, w)
		}
		out, err := m.UNet.ForwardAdded(x, []float32{float32(steps[i])}, ctxT, o.xl.added(guided)) // (B, 4, h, w)
		if err != nil {
			return nil, err
		}
		pred := out
		if guided {
			// ε = ε_uncond + g·(ε_cond − ε_uncond)
			n := len(in.Data)
			pred = nn.New(shape...)
			g := float32(o.CFGScale)
			for j := range pred.Data {
				u, c := out.Data[j], out.Data[n+j]
				pred.Data[j] = u + g*(c-u)
			}
		}
		x0, err := sched.Step(i, pred.Data, latents.Data, noise)
		if err != nil {
			return nil, err
		}
		if err := inp.blend(sched, i, latents); err != nil {
			return nil, err
		}
		o.Stages.add(index, fmt.Sprintf("latents_step%d", i-first), latents)
		o.inspect(index, i, first, sched, out, pred, x0, latents)
		if o.Step != nil {
			o.Step(index, i-first, latents)
		}
		if o.Progress != nil {
			o.Progress(Progress{Image: index, Images: o.BatchCount, Step: i - first + 1, Steps: len(steps) - first, Elapsed: time.Since(start)})
		}
	}
	// The U-Net is done with this image: release its pages and the
	// sampling loop's garbage before the decoder's large activations.
	m.ReleasePages()
	runtime.GC()
	var dec LatentDecoder = m.VAE
	if o.VAETiling != nil {
		dec = tiledDecoder{m.VAE, *o.VAETiling}
	}
	if o.Decoder != nil {
		dec = o.Decoder
	}
	decoded, err := dec.DecodeLatents(latents) // (1, 3, H, W), ≈[-1, 1]
	if err != nil {
		return nil, err
	}
	o.Stages.add(index, "image", decoded)
	imgs, err := vae.ToImages(decoded)
	if err != nil {
		return nil, err
	}
	return inp.finish(imgs[0]), nil
}

// catBatch joins tensors along the batch dimension.
func catBatch(ts ...*nn.Tensor) *nn.Tensor {
	shape := append([]int(nil), ts[0].Shape...)
	shape[0] = 0
	var data []float32
	for _, t := range ts {
		shape[0] += t.Shape[0]
		data = append(data, t.Data...)
	}
	return nn.From(data, shape...)
}

// samplerLabels are AUTOMATIC1111's names of the samplers, for the
// parameters text other tools read.
var samplerLabels = map[string]string{
	"ddpm": "DDPM", "ddim": "DDIM", "pndm": "PLMS", "lms": "LMS", "euler": "Euler", "euler_a": "Euler a",
	"heun": "Heun", "dpm++2m": "DPM++ 2M", "lcm": "LCM",
}

// parameters renders the settings in AUTOMATIC1111's format:
//
//	<prompt>
//	Negative prompt: <negative>
//	Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: v1-5, …
func (m *Model) parameters(o Options, seed uint64) string {
	var b strings.Builder
	b.WriteString(o.Prompt)
	if o.NegativePrompt != "" {
		fmt.Fprintf(&b, "\nNegative prompt: %s", o.NegativePrompt)
	}
	label := samplerLabels[o.Sampler]
	if label == "" {
		label = o.Sampler
	}
	fmt.Fprintf(&b, "\nSteps: %d, Sampler: %s", o.Steps, label)
	if o.Karras {
		b.WriteString(", Schedule type: Karras")
	}
	fmt.Fprintf(&b, ", CFG scale: %g, Seed: %d, Size: %dx%d, Model: %s", o.CFGScale, seed, o.Width, o.Height, m.Name)
	if o.InitImage != nil {
		fmt.Fprintf(&b, ", Denoising strength: %g", o.Strength)
	}
	b.WriteString(o.Inpaint.parameters())
	if o.ClipSkip > 1 {
		fmt.Fprintf(&b, ", Clip skip: %d", o.ClipSkip)
	}
	if o.RNG == CUDA {
		b.WriteString(", RNG: NV")
	} else {
		b.WriteString(", RNG: CPU")
	}
	b.WriteString(o.adapters.parameters(o.usedTI))
	b.WriteString(", Version: sdgo")
	return b.String()
}
