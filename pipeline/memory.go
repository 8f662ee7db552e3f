package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// MemoryEstimate is the estimated peak resident memory of one generation,
// in bytes, and where it comes from. It is computed from the numbers the
// code runs with: the component configs, the checkpoint's tensor sizes and
// element types, how Load keeps them (float32 copies on the heap, or
// half-precision views of the mapped file, streamed block by block for
// large U-Nets), the image size, the batch of the U-Net (2 with guidance),
// VAE tiling, and the garbage collector's target.
type MemoryEstimate struct {
	Base int64 // the program, the Go runtime and the tokenizer
	// Heap is the weights held on the heap for the whole run: float32
	// copies of fp32 tensors, half-precision copies (LoadOptions.Half), and
	// every 1-D tensor, with the collector's headroom on them.
	Heap int64
	// Text, UNet and VAE are the peaks of the three stages: the checkpoint
	// pages each has resident (half-precision weights read in place), plus
	// its activations with the collector's headroom.
	Text, UNet, VAE int64
	// Peak is Base + Heap + the largest stage; Stage names that stage.
	Peak  int64
	Stage string
}

// String gives the peak and its parts in one line, in MB.
func (e MemoryEstimate) String() string {
	return fmt.Sprintf("%s (weights on the heap %s, largest stage %s: %s)",
		FormatBytes(e.Peak), FormatBytes(e.Heap), e.Stage, FormatBytes(max(e.Text, e.UNet, e.VAE)))
}

// FormatBytes writes n in MB below 10 GB and in GB above, as memory is
// quoted to users.
func FormatBytes(n int64) string {
	if n >= 10<<30 {
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MB", (n+(1<<20)-1)>>20)
}

// baseBytes is the resident memory of the sdgo program before it loads a
// model: its code and data, the Go runtime, the tokenizer's tables (measured
// on linux/amd64: about 20 MB).
const baseBytes = 20 << 20

// EstimateMemory estimates the peak memory of generating with o on the
// loaded model m (see MemoryEstimate). The options are those given to
// [Model.Generate]; unset ones take its defaults.
func EstimateMemory(m *Model, o Options) (MemoryEstimate, error) {
	if m.mem == nil {
		return MemoryEstimate{}, fmt.Errorf("memory estimate: model %s was not made by Load", m.Name)
	}
	return m.mem.estimate(o, m.load.Resident, gcPercent())
}

// EstimateMemoryFile estimates the peak memory of generating with o on the
// model at path, loaded with lo, without loading it: it reads only the
// checkpoint's header (tensor names, shapes and types) and the configs, as
// Load would. Commands call it to refuse a job that cannot fit before
// spending time on loading.
func EstimateMemoryFile(path string, lo LoadOptions, o Options) (MemoryEstimate, error) {
	mm, closeAll, err := peekModel(path, lo)
	if err != nil {
		return MemoryEstimate{}, err
	}
	defer closeAll()
	return mm.estimate(o, lo.Resident, GCPercentFor(mm.checkpoint))
}

// memModel is what the estimate needs to know of a model.
type memModel struct {
	text                     clip.Config
	unet                     unet.Config
	vae                      vae.Config
	textW, unetW, vaeW       heldBytes
	unetLevels               []int64 // mapped bytes streaming keeps at each U-Net level: its largest stretch between page releases, and the weights outside the blocks
	checkpoint               int64   // bytes of tensors in the files (streaming starts at streamMin)
	hasStreamableHalfWeights bool

	text2  *clip.Config // SDXL's second text encoder; nil for other models
	text2W heldBytes
}

// addText2 records SDXL's second text encoder, read from src with
// precision p.
func (mm *memModel) addText2(c clip.Config, src weights.Source, p weights.Precision) {
	mm.text2, mm.text2W = &c, held(src, p)
}

// heldBytes are a component's weights as Load keeps them: on the heap, or
// as views of the mapped file.
type heldBytes struct{ heap, mapped int64 }

// held sums the weights of src as Load keeps them with precision p.
func held(src weights.Source, p weights.Precision) heldBytes {
	var h heldBytes
	for _, name := range src.Names() {
		in, ok := src.Info(name)
		if !ok || !in.DType.Float() {
			continue
		}
		n := int64(1)
		for _, d := range in.Shape {
			n *= int64(d)
		}
		switch {
		case len(in.Shape) < 2: // biases and norms: float32 copies
			h.heap += 4 * n
		case in.DType == weights.F16:
			h.mapped += 2 * n // read in place from the mapping
		case p == weights.KeepHalf:
			h.heap += 2 * n
		default:
			h.heap += 4 * n
		}
	}
	return h
}

// levelStretches returns, for each of the U-Net's levels (levels of them,
// level 0 at full latent resolution), the mapped bytes that stay resident
// while it runs when the pages are released after each block and each
// spatial transformer (unet.Model.BlockDone): the level's largest stretch
// between two releases, plus the weights outside the blocks (conv_in, the
// timestep embedding, conv_out), which stay throughout. A stretch is
// resnet j with attention j of a block (down_blocks.i and up_blocks.(L−1−i)
// run at level i), a block's down- or upsampler, or the whole mid block
// (counted whole at the deepest level: a little more than its largest
// stretch).
func levelStretches(src weights.Source, levels int) []int64 {
	out := make([]int64, max(1, levels))
	type stretch struct {
		name  string
		level int
	}
	blocks := map[stretch]int64{} // bytes of each stretch
	var rest int64
	for _, name := range src.Names() {
		in, ok := src.Info(name)
		if !ok || in.DType != weights.F16 || len(in.Shape) < 2 {
			continue
		}
		n := in.End - in.Begin
		parts := strings.SplitN(name, ".", 5)
		kind := parts[0]
		lv := len(out) - 1
		if len(parts) > 1 && (kind == "down_blocks" || kind == "up_blocks") {
			i, _ := strconv.Atoi(parts[1])
			lv = i
			if kind == "up_blocks" {
				lv = len(out) - 1 - i
			}
			lv = min(max(lv, 0), len(out)-1)
			kind, parts = kind+"."+parts[1], parts[1:]
		}
		switch {
		case len(parts) >= 3 && (parts[1] == "resnets" || parts[1] == "attentions") && kind != parts[0]:
			blocks[stretch{kind + "." + parts[2], lv}] += n
		case len(parts) >= 2 && (parts[1] == "downsamplers" || parts[1] == "upsamplers"):
			blocks[stretch{kind + ".sampler", lv}] += n
		case kind == "mid_block":
			blocks[stretch{"mid", len(out) - 1}] += n // the mid block runs resnet, attention, resnet
		default:
			rest += n
		}
	}
	for k, n := range blocks {
		out[k.level] = max(out[k.level], n)
	}
	for i := range out {
		out[i] += rest
	}
	return out
}

// newMemModel measures the components of a model from their sources.
func newMemModel(tc clip.Config, uc unet.Config, vc vae.Config, text, un, va weights.Source, files []weights.Source, p weights.Precision) *memModel {
	mm := &memModel{text: tc, unet: uc, vae: vc}
	mm.textW, mm.unetW, mm.vaeW = held(text, p), held(un, p), held(va, p)
	mm.unetLevels = levelStretches(un, len(uc.BlockOutChannels))
	for _, src := range files {
		for _, name := range src.Names() {
			if in, ok := src.Info(name); ok {
				mm.checkpoint += in.End - in.Begin
			}
		}
	}
	return mm
}

// gcPercent is the GOGC in force now (the sdgo command lowers it to 25 for
// full-size models before generating).
func gcPercent() int {
	g := debug.SetGCPercent(100)
	debug.SetGCPercent(g)
	return g
}

// GCPercentFor returns the GOGC the sdgo command uses for a checkpoint of
// the given size when the environment sets none: 25 for full-size models,
// whose activations are large and short-lived, Go's 100 for small ones.
func GCPercentFor(checkpointBytes int64) int {
	if v, err := strconv.Atoi(os.Getenv("GOGC")); err == nil {
		return v
	}
	if checkpointBytes >= streamMin {
		return 25
	}
	return 100
}

// estimate computes the peak of a generation with o, with the collector
// at gc percent (GOGC), decoding tile by tile where Generate would on its
// own (see AutoTileMinPixels).
func (mm *memModel) estimate(o Options, resident bool, gc int) (MemoryEstimate, error) {
	if mm.autoTile(o, resident, gc) {
		o.VAETiling = autoTiling(mm.vae)
	}
	return mm.estimateAs(o, resident, gc)
}

// estimateAs is estimate with o's tiling as it is.
func (mm *memModel) estimateAs(o Options, resident bool, gc int) (MemoryEstimate, error) {
	f := mm.vae.ScaleFactor()
	if o.Width == 0 || o.Height == 0 {
		native := 512
		if s := mm.unet.SampleSize; s > 0 {
			native = s * f
		}
		o.Width, o.Height = cmpOr(o.Width, native), cmpOr(o.Height, native)
	}
	if o.Width <= 0 || o.Height <= 0 {
		return MemoryEstimate{}, fmt.Errorf("memory estimate: size %dx%d", o.Width, o.Height)
	}
	if o.CFGScale == 0 {
		o.CFGScale = 7.5
	}
	batch := 1
	if o.CFGScale > 1 {
		batch = 2 // [uncond, cond]
	}
	if gc < 0 { // collection off: no bound; count one copy of garbage
		gc = 100
	}
	// Measured peaks (memory_test.go) show a quarter of the collector's
	// allowance in use on average: big activations are allocated and
	// dropped a few at a time, and each large allocation lets the
	// collector catch up.
	head := 1 + float64(gc)/100/4
	h, w := float64(o.Height/f), float64(o.Width/f)
	W, H := float64(o.Width), float64(o.Height)

	// Loading a tokenizer of CLIP's 49,408 tokens allocates about 16 MB
	// that the process keeps (measured with runtime.MemStats).
	e := MemoryEstimate{Base: baseBytes + 320*int64(mm.text.VocabSize)}
	// The collector's allowance grows with the whole live heap, weights
	// held on it included (an fp32 checkpoint's float32 copies): the same
	// share of it is in use at the peak.
	e.Heap = int64(head * float64(mm.textW.heap+mm.text2W.heap+mm.unetW.heap+mm.vaeW.heap))

	// Chunks of 75 tokens are encoded one by one; their outputs, (1, 77, D)
	// each, are joined for the prompt and the negative prompt. A token
	// takes a character at least.
	chunks := 1 + max(len(o.Prompt), len(o.NegativePrompt))/75
	width, textActs := mm.text.Width, textActivations(mm.text, 1)
	textMapped := mm.textW.mapped
	if t2 := mm.text2; t2 != nil {
		// SDXL: both encoders run on each chunk, their pages stay resident
		// together; the context is both widths, and each chunk's two
		// hidden states are joined into a third tensor.
		width += t2.Width
		textActs = max(textActs, textActivations(*t2, 1)) + 4*float64(c77(mm.text)*width)
		textMapped += mm.text2W.mapped
	}
	joined := 2 * 2 * 4 * float64(chunks*c77(mm.text)*width) // both prompts, and the copy catTokens makes
	e.Text = textMapped + int64(head*(textActs+joined))

	// Streamed, each level holds its own stretch of the weights beside its
	// activations, and the peak is the largest sum; otherwise every page
	// stays resident with the largest level's activations.
	for i, a := range unetLevelActivations(mm.unet, float64(batch), h, w) {
		mapped := mm.unetW.mapped
		if !resident && mm.checkpoint >= streamMin && i < len(mm.unetLevels) {
			mapped = min(mapped, mm.unetLevels[i])
		}
		e.UNet = max(e.UNet, mapped+int64(head*a))
	}

	// Another decoder (TAESD) replaces the VAE's, tiled or not, as in
	// Generate; the VAE's pages are then touched only to encode an init
	// image.
	vaeStage, acts, vaeMapped := "VAE", vaeDecodeActivations(mm.vae, H, W, o.VAETiling), mm.vaeW.mapped
	switch d := o.Decoder.(type) {
	case nil:
	case *vae.Model:
		acts = vaeDecodeActivations(d.Config, H, W, nil)
	default:
		// TAESD decodes at 8× the latents whatever the VAE's factor (the
		// image is resized after): its width and output count there.
		channels, scale := 64, 8.0
		if t, ok := d.(*vae.TinyDecoder); ok && t.ConvIn.Weight != nil && len(t.ConvIn.Weight.Shape) > 0 {
			channels, scale = t.ConvIn.Weight.Shape[0], float64(int(1)<<len(t.Stages))
		}
		th, tw := h*scale, w*scale
		vaeStage, acts = "TAESD decoder", tinyDecodeActivations(channels, th, tw)+3*4*th*tw
		if o.InitImage == nil {
			vaeMapped = 0
		}
	}
	if o.InitImage != nil {
		acts = max(acts, vaeEncodeActivations(mm.vae, H, W))
	}
	// The image leaves as float32 (3, H, W), then 8-bit NRGBA; the batch's
	// images are kept until the end.
	acts += 3*4*H*W + 4*H*W*float64(max(1, o.BatchCount))
	e.VAE = vaeMapped + int64(head*acts)

	e.Stage, e.Peak = "text encoder", e.Text
	if e.UNet > e.Peak {
		e.Stage, e.Peak = "U-Net", e.UNet
	}
	if e.VAE > e.Peak {
		e.Stage, e.Peak = vaeStage, e.VAE
	}
	e.Peak += e.Base + e.Heap
	return e, nil
}

// c77 is the text encoder's sequence length (77).
func c77(c clip.Config) int { return max(1, c.Positions) }

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// textActivations are the text encoder's live activations for b sequences
// of 77 tokens: the residual stream, the attention's q, k, v and output,
// and the MLP's hidden layer, in float32.
func textActivations(c clip.Config, b int) float64 {
	return 4 * float64(b*c.Positions) * float64(6*c.Width+2*c.MLPWidth)
}

// unetLevelActivations are the U-Net's live activations for a batch of b
// latents of h×w while each level runs (level 0 at full latent
// resolution), in bytes: the skip connections every down level pushes
// (all counted, though the up levels pop them on the way), plus the
// level's working set: a resnet's input, normalised input, hidden state
// and output, and a spatial transformer's tensors (norm, q, k, v,
// attention output, projection, feed-forward output; its GEGLU runs on
// chunks of rows), plus the Winograd scratch nn's pool holds for the
// widest 3×3 convolution (pooled buffers stay between calls, so every
// level counts the largest).
func unetLevelActivations(c unet.Config, b, h, w float64) []float64 {
	levels := len(c.BlockOutChannels)
	skips := float64(c.BlockOutChannels[0]) * h * w // conv_in
	work := make([]float64, levels)
	var scratch float64
	lh, lw := h, w
	for i, ch := range c.BlockOutChannels {
		C := float64(ch)
		skips += float64(c.LayersPerBlock) * C * lh * lw
		in := C
		if i+1 < levels {
			in = float64(c.BlockOutChannels[i+1]) // the up level's input, concatenated with its skip
		}
		res := (in + C + 4*C) * lh * lw
		attn := 0.0
		if c.DownBlockTypes[i] == unet.CrossAttnDownBlock2D || c.UpBlockTypes[levels-1-i] == unet.CrossAttnUpBlock2D {
			attn = 8 * C * lh * lw // the feed-forward runs in chunks of rows (unet.ffChunk)
		}
		work[i] = res + attn
		// Winograd's scratch for the level's widest 3×3 convolution (the
		// up level's first, from its input and skip concatenated).
		scratch = max(scratch, float64(nn.Conv3x3Workspace(int(b), int(in+C), ch, int(lh), int(lw))))
		if i+1 < levels {
			lh, lw = (lh+1)/2, (lw+1)/2
			skips += C * lh * lw // the downsampler's output
		}
	}
	out := make([]float64, levels)
	for i := range out {
		out[i] = 4*b*(skips+work[i]) + scratchHeld(scratch)
	}
	return out
}

// scratchHeld is what nn's scratch pool holds for convolutions whose
// largest workspace is ws bytes: its buffers are pooled by power-of-two
// size (up to twice what is asked) and stay pooled between calls, while
// the activations of every level come and go.
func scratchHeld(ws float64) float64 { return 2 * ws }

// vaeDecodeActivations are the decoder's live activations for an H×W image
// (batch 1), in bytes. Untiled, the largest is at a level's full
// resolution: the up block's input (the deeper level's channels, upsampled)
// and three tensors of the level's own width (normalised, hidden, output).
// Tiled, the high-resolution levels hold one tile's worth of them, and the
// blended output (3 channels and a weight per pixel) is whole; the latent
// resolution's mid block (with its single-head attention) always is.
func vaeDecodeActivations(c vae.Config, H, W float64, t *vae.Tiling) float64 {
	n, f := len(c.BlockOut), float64(c.ScaleFactor())
	top := c.BlockOut[n-1]
	mid := float64(top) * (H / f) * (W / f) * 8
	scratch := float64(nn.Conv3x3Workspace(1, top, top, int(H/f), int(W/f))) // Winograd's, bytes
	level := func(H, W float64) float64 {
		var peak float64
		for i, ch := range c.BlockOut {
			s := float64(int(1) << i) // level i runs at 1/2^i of the image
			in := float64(c.BlockOut[min(i+1, n-1)])
			peak = max(peak, (in+3*float64(ch))*(H/s)*(W/s))
			scratch = max(scratch, float64(nn.Conv3x3Workspace(1, int(in), ch, int(H/s), int(W/s))))
		}
		return peak
	}
	if t == nil {
		return 4*max(mid, level(H, W)) + scratchHeld(scratch)
	}
	tileSide := t.Tile
	if tileSide <= 0 { // DefaultTiling
		tileSide = max(1, c.SampleSize/c.ScaleFactor())
	}
	side := float64(tileSide) * f
	tile := level(min(side, H), min(side, W))
	return 4*max(mid, tile+4*H*W) + scratchHeld(scratch)
}

// tinyDecodeActivations are TAESD's decoder's live activations for an
// H×W image (batch 1), in bytes: at full resolution, after the last
// upsampling, a block's input, two of its hidden states and its output,
// all of the decoder's width, and the Winograd scratch of its
// convolutions.
func tinyDecodeActivations(channels int, H, W float64) float64 {
	return 4*4*float64(channels)*H*W + scratchHeld(float64(nn.Conv3x3Workspace(1, channels, channels, int(H), int(W))))
}

// vaeEncodeActivations are the encoder's live activations for an H×W image:
// at full resolution, the input and four tensors of the first level's
// width; the latent's mean and log-variance are small next to them.
func vaeEncodeActivations(c vae.Config, H, W float64) float64 {
	return 4 * (3 + 4*float64(c.BlockOut[0])) * H * W
}

// measure records what the estimate needs of a model Load has made.
func (m *Model) measure(dir bool, opts LoadOptions) {
	if len(m.files) == 0 || m.Text == nil || m.UNet == nil || m.VAE == nil {
		return
	}
	var text, un, va weights.Source
	if dir && len(m.files) >= 3 {
		text, un, va = m.files[0], m.files[1], m.files[2]
	} else {
		text, un, va = weights.TextFromLDM(m.files[0]), weights.UNetFromLDM(m.files[0]), weights.VAEFromLDM(m.files[0])
	}
	if opts.VAE != "" {
		va = m.files[len(m.files)-1]
		if _, ok := va.Info("decoder.up_blocks.0.resnets.0.conv1.weight"); !ok {
			va = weights.VAEFromLDM(va)
		}
	}
	m.load = opts
	m.mem = newMemModel(m.Text.Config, m.UNet.Config, m.VAE.Config, text, un, va, m.files, opts.precision())
	if m.Text2 != nil {
		text2 := weights.TextFromSDXL(m.files[0], 1)
		if dir && len(m.files) >= 4 {
			text2 = m.files[3] // text_encoder_2/, kept after text_encoder, unet and vae
		}
		m.mem.addText2(m.Text2.Config, text2, opts.precision())
	}
}

// peekModel opens the checkpoint at path as Load would and measures it,
// without reading tensor data; closeAll closes the files.
func peekModel(path string, lo LoadOptions) (*memModel, func(), error) {
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	open := func(open func() (weights.Source, func() error, error)) (weights.Source, error) {
		src, c, err := open()
		if c != nil {
			closers = append(closers, c)
		}
		return src, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, closeAll, fmt.Errorf("model: %w", err)
	}
	var (
		tc         clip.Config
		uc         unet.Config
		vc         vae.Config
		text, un   weights.Source
		va         weights.Source
		tc2        clip.Config    // SDXL's second text encoder
		text2      weights.Source // nil for other models
		files      []weights.Source
		fail       = func(err error) (*memModel, func(), error) { closeAll(); return nil, func() {}, err }
		diffusersF = func(component string) (weights.Source, error) {
			return open(func() (weights.Source, func() error, error) {
				return weights.OpenDiffusers(path, component, lo.PreferFP16)
			})
		}
	)
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "model_index.json")); err != nil {
			return fail(fmt.Errorf("model %s: a folder must be a diffusers model with model_index.json: %w", path, err))
		}
		if tc, err = clip.ReadConfig(filepath.Join(path, "text_encoder", "config.json")); err != nil {
			return fail(fmt.Errorf("model %s: %w", path, err))
		}
		if uc, err = unet.ReadConfig(filepath.Join(path, "unet", "config.json")); err != nil {
			return fail(fmt.Errorf("model %s: %w", path, err))
		}
		if vc, err = vae.ReadConfig(filepath.Join(path, "vae", "config.json")); err != nil {
			return fail(fmt.Errorf("model %s: %w", path, err))
		}
		if text, err = diffusersF("text_encoder"); err != nil {
			return fail(err)
		}
		if un, err = diffusersF("unet"); err != nil {
			return fail(err)
		}
		if va, err = diffusersF("vae"); err != nil {
			return fail(err)
		}
		files = []weights.Source{text, un, va}
		if _, err := os.Stat(filepath.Join(path, "text_encoder_2")); err == nil {
			if tc2, err = clip.ReadConfig(filepath.Join(path, "text_encoder_2", "config.json")); err != nil {
				return fail(fmt.Errorf("model %s: %w", path, err))
			}
			if text2, err = diffusersF("text_encoder_2"); err != nil {
				return fail(err)
			}
			files = append(files, text2)
		}
	} else {
		src, err := open(func() (weights.Source, func() error, error) { return weights.OpenAny(path) })
		if err != nil {
			return fail(err)
		}
		files = []weights.Source{src}
		layout := weights.DetectLayout(src)
		if !layout.UNet || !layout.VAE || layout.Text == weights.TextNone {
			return fail(fmt.Errorf("model %s: not a Stable Diffusion single-file checkpoint (found %v)", path, layout))
		}
		text, un, va = weights.TextFromLDM(src), weights.UNetFromLDM(src), weights.VAEFromLDM(src)
		if tc, uc, vc, err = singleFileConfigs(text, un, va, lo.Config); err != nil {
			return fail(fmt.Errorf("model %s: %w", path, err))
		}
		if layout.Text == weights.TextSDXL {
			text2 = weights.TextFromSDXL(src, 1)
			if tc2, err = text2Config(text2, lo.Config); err != nil {
				return fail(fmt.Errorf("model %s: text encoder 2: %w", path, err))
			}
		}
	}
	if lo.VAE != "" {
		src, err := open(func() (weights.Source, func() error, error) { return weights.OpenAny(lo.VAE) })
		if err != nil {
			return fail(fmt.Errorf("--vae: %w", err))
		}
		view := src
		if _, ok := src.Info("decoder.up_blocks.0.resnets.0.conv1.weight"); !ok {
			view = weights.VAEFromLDM(src)
		}
		if vc, err = vae.InferConfig(view); err != nil {
			return fail(fmt.Errorf("--vae %s: %w", lo.VAE, err))
		}
		va = view
		files = append(files, src)
	}
	mm := newMemModel(tc, uc, vc, text, un, va, files, lo.precision())
	if text2 != nil {
		mm.addText2(tc2, text2, lo.precision())
	}
	return mm, closeAll, nil
}

// tiledDecoder decodes latents with a VAE tile by tile.
type tiledDecoder struct {
	m *vae.Model
	t vae.Tiling
}

func (d tiledDecoder) DecodeLatents(latents *nn.Tensor) (*nn.Tensor, error) {
	t := d.t
	if t.Tile == 0 {
		t = d.m.DefaultTiling()
	}
	return d.m.DecodeTiled(d.m.Unscale(latents), t)
}
