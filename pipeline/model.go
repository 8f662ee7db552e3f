// Package pipeline joins sdgo's stages into text-to-image and image-to-image:
//
//	prompt ─ tokenizer ─ clip ─┐
//	                            ├─ unet ⇄ scheduler (steps, with classifier-free guidance) ─ vae ─ image
//	noise (rng) ───────────────┘
//
// A [Model] is loaded once from a single-file checkpoint (.safetensors or
// .ckpt in the original layout) or a diffusers folder, and [Model.Generate]
// makes images from [Options]; it is what the sdgo command runs.
package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// Version is the Stable Diffusion family of a model.
type Version int

// The families sdgo runs.
const (
	SD1 Version = 1 // CLIP ViT-L/14 text encoder, context 768
	SD2 Version = 2 // OpenCLIP ViT-H/14 text encoder, context 1024
)

func (v Version) String() string {
	if v == SDXL {
		return "SDXL"
	}
	return fmt.Sprintf("SD %d.x", int(v))
}

// Model is a loaded Stable Diffusion model: every stage, ready to generate.
type Model struct {
	Name      string  // file or folder name, for the image's parameters
	Version   Version // SD 1.x or 2.x
	Tokenizer *tokenizer.Tokenizer
	Pad       tokenizer.Pad // what fills the 77 ids after EOS
	Text      *clip.Model
	// TextSkip is the clip skip the model itself uses: 1 (last layer), or 2
	// for an SD 2.x single file whose OpenCLIP tower has the layer that SD
	// 2.x never uses (diffusers' converted SD 2.x encoders drop it instead).
	TextSkip  int
	UNet      *unet.Model
	VAE       *vae.Model
	Scheduler scheduler.Config // training schedule and prediction type

	// Text2 is SDXL's second text encoder (OpenCLIP ViT-bigG with
	// projection), nil for SD 1.x and 2.x; see sdxl.go.
	Text2 *clip.ProjectionModel
	// ZeroNegative makes an absent negative prompt all zeros, context and
	// pooled (SDXL's force_zeros_for_empty_prompt).
	ZeroNegative bool

	// files are the checkpoint files the model reads, and closers close
	// them: half-precision weights are read from their memory mappings, so
	// the files stay open until Close.
	files   []weights.Source
	closers []func() error

	load LoadOptions // how it was loaded
	mem  *memModel   // what EstimateMemory needs
	// loraDir and embeddingDir are LoadOptions.LoraDir and EmbeddingDir;
	// adapters records the LoRA set applied (adapters.go).
	loraDir, embeddingDir string
	adapters              *adapterState // shared by shallow copies (Traced)
}

// Traced returns a view of m whose U-Net calls trace with its named
// intermediate tensors (unet.Model.Trace), for one caller's generations
// (the server's Explore page): the weights, the adapters and their lock are
// m's, while m's own U-Net stays untraced for everyone else. The view owns
// no files: close m, not the view.
func (m *Model) Traced(trace func(name string, t *nn.Tensor)) *Model {
	un := *m.UNet // the blocks (and their weights) are shared
	un.Trace = trace
	v := *m
	v.UNet = &un
	v.files, v.closers = nil, nil
	return &v
}

// Close releases the model's checkpoint files. The model must not be used
// afterwards: its half-precision weights are views of the files' memory.
func (m *Model) Close() error {
	var errs []error
	for _, c := range m.closers {
		errs = append(errs, c())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// ReleasePages drops from the process's resident memory the pages of the
// checkpoint files that the model's half-precision weights have read so far
// (see weights.File.ReleasePages); the weights stay usable and read their
// pages back as they are used. Between stages it lowers the peak memory of a
// generation: the text encoder's pages need not stay while the U-Net runs,
// nor the U-Net's (1.7 GB for SD 1.5) while the VAE decodes.
func (m *Model) ReleasePages() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, weights.ReleasePages(f))
	}
	return errors.Join(errs...)
}

// keep records a checkpoint file the model reads from and its closing
// function.
func (m *Model) keep(src weights.Source, closeFn func() error) {
	m.files = append(m.files, src)
	if closeFn != nil {
		m.closers = append(m.closers, closeFn)
	}
}

// LoadOptions say where to find what a checkpoint may not carry.
type LoadOptions struct {
	// Tokenizer is a folder with vocab.json + merges.txt (or the path of
	// bpe_simple_vocab_16e6.txt.gz). Needed for single-file checkpoints
	// unless such files lie next to the checkpoint.
	Tokenizer string
	// VAE replaces the model's autoencoder with this file (diffusers or
	// original names, with or without the first_stage_model. prefix).
	VAE string
	// Config is a diffusers model folder whose component configs
	// (text_encoder/, unet/, vae/, scheduler/ config files) describe a
	// single-file checkpoint, as diffusers' from_single_file(config=…) takes
	// it. Without it the sizes are read from the tensors' shapes, and the
	// attention heads, which no shape records, are those of the known model
	// (SD 1.x, SD 2.x, sd-mini; see KnownModel) with the same shapes: Load
	// fails, naming the heads, for a checkpoint of other shapes.
	Config string
	// PreferFP16 picks a diffusers folder's fp16 variant files
	// (*.fp16.safetensors) when it has both; either is used when only one is there.
	PreferFP16 bool
	// Resident keeps the U-Net's memory-mapped weights in memory between
	// blocks. By default, for checkpoints of 256 MB and more, their pages
	// are released after each block, which lowers the peak memory by most
	// of the U-Net's size for a few percent of time.
	Resident bool
	// Prediction overrides the prediction type: "epsilon" or "v_prediction".
	// Single-file SD 2.x checkpoints do not say which they are.
	Prediction scheduler.Prediction
	// SchedulerConfig is a diffusers scheduler_config.json that replaces
	// the model's schedule: its timestep_spacing, steps_offset, betas and
	// prediction type (SDXL-Turbo's "trailing" spacing, for one).
	SchedulerConfig string
	// TimestepSpacing, when set, replaces the schedule's timestep_spacing
	// (after SchedulerConfig): "trailing" for SDXL-Turbo and SD-Turbo.
	TimestepSpacing scheduler.Spacing
	// Half keeps the weights of the linear layers and convolutions (U-Net,
	// text encoder and VAE) in half precision even when the checkpoint
	// stores them in fp32 (rounding them once, to half the memory). Without
	// it they keep the file's precision: an fp16 checkpoint's weights stay in
	// half precision, read from the file's memory without a copy, and an
	// fp32 checkpoint's stay float32.
	Half bool
	// LoraDir is the folder of LoRA and LyCORIS files that prompts name as
	// <lora:NAME:W> (NAME.safetensors, .ckpt or .pt, searched with its
	// subfolders): stable-diffusion.cpp's --lora-model-dir.
	LoraDir string
	// EmbeddingDir is the folder of textual-inversion embeddings (.pt,
	// .safetensors, .bin) whose trigger words prompts may hold: the file
	// name without extension (a diffusers learned_embeds.bin: its token).
	EmbeddingDir string
}

// precision is how the options say weight matrices are kept.
func (o LoadOptions) precision() weights.Precision {
	if o.Half {
		return weights.KeepHalf
	}
	return weights.KeepStored
}

// Load loads a model from a single-file checkpoint or a diffusers folder.
// The checkpoint files stay open (mapped) while the model lives: call
// [Model.Close] when done with it.
func Load(path string, opts LoadOptions) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m := &Model{TextSkip: 1, loraDir: opts.LoraDir, embeddingDir: opts.EmbeddingDir, adapters: &adapterState{}}
	if st.IsDir() {
		err = m.loadDiffusers(path, opts)
	} else {
		err = m.loadSingleFile(path, opts)
	}
	if err == nil {
		err = m.loadSDXL(path, st.IsDir(), opts)
	}
	if err == nil && opts.VAE != "" {
		var closeFn func() error
		var src weights.Source
		if m.VAE, src, closeFn, err = loadVAEFile(opts.VAE, opts.precision()); err == nil {
			m.keep(src, closeFn)
			if m.Version == SDXL {
				m.VAE.Config.ScalingFactor = sdxlScale // the family's, which a VAE file does not say
			}
		}
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	if opts.SchedulerConfig != "" {
		if m.Scheduler, err = scheduler.ReadConfig(opts.SchedulerConfig, scheduler.SD15()); err != nil {
			m.Close()
			return nil, fmt.Errorf("--scheduler-config: %w", err)
		}
	}
	if opts.TimestepSpacing != "" {
		m.Scheduler.Spacing = opts.TimestepSpacing
	}
	if opts.Prediction != "" {
		m.Scheduler.Prediction = opts.Prediction
	} else if !st.IsDir() && m.Version == SD2 {
		// Single-file SD 2.x checkpoints do not say whether they predict ε
		// (512-base) or v (768-v): ask the U-Net, as the web UI does.
		if v, err := m.predictsV(); err != nil {
			m.Close()
			return nil, fmt.Errorf("model %s: %w", path, err)
		} else if !v {
			m.Scheduler.Prediction = scheduler.Epsilon
		}
	}
	m.measure(st.IsDir(), opts)
	// Loading read the float32 tensors through the files' mappings; their
	// pages need not stay in memory.
	if err := m.ReleasePages(); err != nil {
		m.Close()
		return nil, err
	}
	if opts.Resident || m.CheckpointBytes() < streamMin {
		return m, nil
	}
	// Half-precision weights are read straight from the mapped file. Giving
	// the pages back after each U-Net block keeps about one block's weights
	// in memory instead of all of them: they stream from the page cache,
	// at the cost of refaulting them every step.
	m.UNet.BlockDone = func() { m.ReleasePages() }
	return m, nil
}

// streamMin is the checkpoint size from which the U-Net's weights are
// streamed: below it (sd-mini's 16 MB) the page faults would cost more
// than the memory saved.
const streamMin = 256 << 20

// CheckpointBytes is the size of the tensors in the model's checkpoint
// files (about 2 GB for an fp16 SD 1.5 checkpoint, 16 MB for sd-mini).
func (m *Model) CheckpointBytes() int64 {
	var n int64
	for _, src := range m.files {
		for _, name := range src.Names() {
			if in, ok := src.Info(name); ok {
				n += in.End - in.Begin
			}
		}
	}
	return n
}

// predictsV tells a v-prediction U-Net from an ε-prediction one by one call
// on a constant input (AUTOMATIC1111's is_using_v_parameterization_for_sd2):
// at t = 999 an ε model returns about the noise, while a v model returns
// about −x₀ − ε, so mean(out − x) falls below −1 only for v.
func (m *Model) predictsV() (bool, error) {
	c := m.UNet.Config
	x := nn.New(1, c.InChannels, 8, 8)       // (1, 4, 8, 8) filled with 0.5
	ctx := nn.New(1, 2, c.CrossAttentionDim) // (1, 2, D) filled with 0.5
	for i := range x.Data {
		x.Data[i] = 0.5
	}
	for i := range ctx.Data {
		ctx.Data[i] = 0.5
	}
	out, err := m.UNet.Forward(x, []float32{999}, ctx)
	if err != nil {
		return false, err
	}
	var s float64
	for i, v := range out.Data {
		s += float64(v - x.Data[i])
	}
	return s/float64(len(out.Data)) < -1, nil
}

// loadSingleFile reads an original-layout checkpoint: model.diffusion_model.*,
// first_stage_model.*, cond_stage_model.*.
func (m *Model) loadSingleFile(path string, opts LoadOptions) error {
	src, closeFn, err := weights.OpenAny(path)
	if err != nil {
		return err
	}
	m.keep(src, closeFn)
	layout := weights.DetectLayout(src)
	if !layout.UNet || !layout.VAE || layout.Text == weights.TextNone {
		return fmt.Errorf("model %s: not a Stable Diffusion single-file checkpoint (found %v); "+
			"want model.diffusion_model.*, first_stage_model.* and cond_stage_model.* tensors", path, layout)
	}
	m.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	switch layout.Text {
	case weights.TextCLIP:
		m.Version, m.Pad, m.Scheduler = SD1, tokenizer.PadSD1, scheduler.SD15()
	case weights.TextOpenCLIP:
		// SD 2.x conditions on the penultimate layer of OpenCLIP's 24.
		m.Version, m.Pad, m.Scheduler, m.TextSkip = SD2, tokenizer.PadSD2, scheduler.SD21(), 2
	case weights.TextSDXL:
		m.Version, m.Pad, m.Scheduler = SDXL, tokenizer.PadSD1, sdxlScheduler() // text encoder 2: see loadSDXL
	case weights.TextSDXLRefiner:
		return fmt.Errorf("model %s: %w", path, errRefiner)
	}
	text := weights.TextFromLDM(src)
	un := weights.UNetFromLDM(src)
	va := weights.VAEFromLDM(src)
	tcfg, ucfg, vcfg, err := singleFileConfigs(text, un, va, opts.Config)
	if err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	if opts.Config != "" {
		if m.Scheduler, err = readSchedulerConfig(filepath.Join(opts.Config, "scheduler", "scheduler_config.json"), m.Version); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	if m.Text, err = clip.LoadPrecision(text, tcfg, opts.precision()); err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	if m.UNet, err = unet.LoadPrecision(un, ucfg, opts.precision()); err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	if m.VAE, err = vae.LoadPrecision(va, vcfg, opts.precision()); err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	tokDir := opts.Tokenizer
	switch {
	case tokDir == "" && opts.Config != "":
		tokDir = opts.Config
	case tokDir == "":
		tokDir = filepath.Dir(path) // vocab.json + merges.txt (or tokenizer/) next to the checkpoint
	}
	if m.Tokenizer, err = tokenizer.Load(tokDir); err != nil {
		if opts.Tokenizer == "" {
			return fmt.Errorf("model %s carries no tokenizer: pass --tokenizer DIR (%w)", path, err)
		}
		return fmt.Errorf("--tokenizer: %w", err)
	}
	return nil
}

// singleFileConfigs reads the component configs from a diffusers folder, or
// infers them from the tensors' shapes when dir is "".
func singleFileConfigs(text, un, va weights.Source, dir string) (tc clip.Config, uc unet.Config, vc vae.Config, err error) {
	if dir == "" {
		if tc, err = clip.Infer(text); err != nil {
			return tc, uc, vc, fmt.Errorf("text encoder: %w", err)
		}
		if uc, err = unet.ConfigFromWeights(un); err != nil {
			return tc, uc, vc, err
		}
		if err = resolveHeads(&tc, &uc); err != nil {
			return tc, uc, vc, err
		}
		vc, err = vae.InferConfig(va)
		return tc, uc, vc, err
	}
	if tc, err = clip.ReadConfig(filepath.Join(dir, "text_encoder", "config.json")); err != nil {
		return tc, uc, vc, fmt.Errorf("--config: %w", err)
	}
	if uc, err = unet.ReadConfig(filepath.Join(dir, "unet", "config.json")); err != nil {
		return tc, uc, vc, fmt.Errorf("--config: %w", err)
	}
	inChannelsFromWeights(un, &uc.InChannels)
	if vc, err = vae.ReadConfig(filepath.Join(dir, "vae", "config.json")); err != nil {
		return tc, uc, vc, fmt.Errorf("--config: %w", err)
	}
	return tc, uc, vc, nil
}

// loadDiffusers reads a diffusers folder (model_index.json, with the
// components text_encoder/, unet/, vae/, tokenizer/, scheduler/).
func (m *Model) loadDiffusers(dir string, opts LoadOptions) error {
	if _, err := os.Stat(filepath.Join(dir, "model_index.json")); err != nil {
		return fmt.Errorf("model %s: a folder must be a diffusers model with model_index.json: %w", dir, err)
	}
	m.Name = filepath.Base(filepath.Clean(dir))
	var err error
	tokDir := filepath.Join(dir, "tokenizer")
	if opts.Tokenizer != "" {
		tokDir = opts.Tokenizer
	}
	if m.Tokenizer, err = tokenizer.Load(tokDir); err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}

	text, closeFn, err := weights.OpenDiffusers(dir, "text_encoder", opts.PreferFP16)
	if err != nil {
		return err
	}
	m.keep(text, closeFn)
	tcfg, err := clip.ReadConfig(filepath.Join(dir, "text_encoder", "config.json"))
	if err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}
	if m.Text, err = clip.LoadPrecision(text, tcfg, opts.precision()); err != nil {
		return fmt.Errorf("model %s: text_encoder: %w", dir, err)
	}
	m.Version, m.Pad = SD1, tokenizer.PadSD1
	if tcfg.Width >= 1024 || tcfg.Activation == clip.GELU {
		m.Version, m.Pad = SD2, tokenizer.PadSD2
	}

	un, closeFn, err := weights.OpenDiffusers(dir, "unet", opts.PreferFP16)
	if err != nil {
		return err
	}
	m.keep(un, closeFn)
	ucfg, err := unet.ReadConfig(filepath.Join(dir, "unet", "config.json"))
	if err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}
	inChannelsFromWeights(un, &ucfg.InChannels)
	if m.UNet, err = unet.LoadPrecision(un, ucfg, opts.precision()); err != nil {
		return fmt.Errorf("model %s: unet: %w", dir, err)
	}

	va, closeFn, err := weights.OpenDiffusers(dir, "vae", opts.PreferFP16)
	if err != nil {
		return err
	}
	m.keep(va, closeFn)
	vcfg, err := vae.ReadConfig(filepath.Join(dir, "vae", "config.json"))
	if err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}
	if m.VAE, err = vae.LoadPrecision(va, vcfg, opts.precision()); err != nil {
		return fmt.Errorf("model %s: vae: %w", dir, err)
	}

	if m.Scheduler, err = readSchedulerConfig(filepath.Join(dir, "scheduler", "scheduler_config.json"), m.Version); err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}
	return nil
}

// readSchedulerConfig reads the training schedule and prediction type from a
// diffusers scheduler_config.json over SD 1.5's schedule; a missing file
// means the family's default.
func readSchedulerConfig(path string, v Version) (scheduler.Config, error) {
	cfg, err := scheduler.ReadConfig(path, scheduler.SD15())
	if errors.Is(err, fs.ErrNotExist) {
		if v == SD2 {
			return scheduler.SD21(), nil
		}
		return scheduler.SD15(), nil
	}
	return cfg, err
}

// loadVAEFile loads a separate autoencoder file: diffusers names, original
// names, or original names under first_stage_model, keeping its weights in
// precision p. It also returns the file and the function closing it.
func loadVAEFile(path string, p weights.Precision) (*vae.Model, weights.Source, func() error, error) {
	src, closeFn, err := weights.OpenAny(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--vae: %w", err)
	}
	view := src
	if _, ok := src.Info("decoder.up_blocks.0.resnets.0.conv1.weight"); !ok {
		view = weights.VAEFromLDM(src) // original names, with or without first_stage_model.
	}
	cfg, err := vae.InferConfig(view)
	if err != nil {
		closeFn()
		return nil, nil, nil, fmt.Errorf("--vae %s: %w", path, err)
	}
	m, err := vae.LoadPrecision(view, cfg, p)
	if err != nil {
		closeFn()
		return nil, nil, nil, fmt.Errorf("--vae %s: %w", path, err)
	}
	return m, src, closeFn, nil
}
