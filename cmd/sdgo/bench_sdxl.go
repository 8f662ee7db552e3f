package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

const benchSDXLUsage = `Usage: sdgo bench --model sdxl [--json] [--quick] [--no-txt2img] [--dir DIR] [--threads N]

Measures this machine on Stable Diffusion XL-sized work, with no download: it
writes an SDXL base-shaped single file of random weights (fp16, ~7 GB: U-Net
2.6 B parameters, both text encoders, the VAE; in a temporary folder, removed
afterwards) whose tensors come from the configs through sdgo's own loaders,
loads it as a user's sd_xl_base_1.0.safetensors is loaded, and times

  text_encode_s                both text encoders, batch 2
  unet_512_s, unet_1024_s      one step with guidance (U-Net batch 2) for a
                               512×512 and a 1024×1024 image, with the FLOPs
                               of each (unet.FLOPs)
  turbo_512_1step_s            an SDXL-Turbo-style 512×512 txt2img from the
                               file: one step, no guidance, trailing spacing,
                               in a child process, with its peak RSS
  txt2img_1024_1step_s         a one-step 1024×1024 txt2img with guidance, in a
                               child process, with its peak RSS (Linux only);
                               its decode is tiled, as sdgo's own at 1024²

--quick skips the 1024×1024 parts.

Flags:
`

// benchModel finds sdgo bench's --model: SDXL's bench runs on its own;
// "sd15" (the default) is removed from the arguments for the SD 1.5 bench.
func benchModel(args []string) (xl bool, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		v, ok := strings.CutPrefix(a, "--model=")
		if !ok && a == "--model" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if !ok {
			rest = append(rest, a)
			continue
		}
		if a == "--model" {
			i++
		}
		switch v {
		case "sdxl":
			return true, args, nil
		case "sd15":
		default:
			return false, nil, usagef("bench: --model must be sd15 or sdxl, got %q", v)
		}
	}
	return false, rest, nil
}

// xlBenchSpec is the SDXL-shaped model the bench writes.
type xlBenchSpec struct {
	name     string
	size     int // the "1024" image side; the "512" parts use half
	unet     unet.Config
	te1, te2 clip.Config
	vae      vae.Config
}

// sdxlBenchSpec is SDXL base 1.0 (stabilityai/stable-diffusion-xl-base-1.0:
// unet, text_encoder, text_encoder_2 and vae config.json), or with
// SDGO_BENCH_MODEL=tiny the same layout at a few megabytes, for tests.
func sdxlBenchSpec() xlBenchSpec {
	v := vae.SD15()
	v.ScalingFactor = 0.13025
	s := xlBenchSpec{name: "sdxl-random", size: 1024, unet: unet.SDXL(), te1: clip.SD1(), te2: clip.SDXLBigG(), vae: v}
	if os.Getenv(benchEnv) != "tiny" {
		return s
	}
	s.name, s.size = "sdxl-tiny-random", 64
	u := &s.unet
	u.BlockOutChannels, u.Heads, u.TransformerLayersPerBlock = []int{32, 64, 64}, []int{1, 1, 1}, []int{1, 1, 2}
	u.CrossAttentionDim, u.AdditionTimeEmbedDim, u.ProjectionClassEmbeddingsInputDim = 128, 8, 64+6*8
	for _, t := range []*clip.Config{&s.te1, &s.te2} {
		t.Width, t.MLPWidth, t.Heads, t.Layers = 64, 128, 1, 2
	}
	s.te2.ProjectionDim = 64
	s.vae.BlockOut, s.vae.LayersPerBlock = []int{32, 32}, 1
	return s
}

// xlBenchReport is what sdgo bench --model sdxl --json prints; figures not
// measured are null.
type xlBenchReport struct {
	GOARCH  string  `json:"goarch"`
	Kernel  string  `json:"kernel"`
	Threads int     `json:"threads"`
	CPUs    int     `json:"cpus"`
	Model   string  `json:"model"`
	Params  int64   `json:"params"`      // parameters in the file
	UNetPar int64   `json:"unet_params"` // of which the U-Net's
	FileMB  float64 `json:"file_mb"`     // the fp16 file's size

	WriteS  *float64 `json:"write_checkpoint_s"`
	LoadS   *float64 `json:"load_s"`
	LoadRSS *float64 `json:"load_rss_mb"`

	TextEncodeS   *float64 `json:"text_encode_s"`
	UNet512S      *float64 `json:"unet_512_s"`
	UNet512CPU    *float64 `json:"unet_512_cpu_s"`
	UNet512GFLOP  float64  `json:"unet_512_gflop"`
	UNet1024S     *float64 `json:"unet_1024_s"`
	UNet1024CPU   *float64 `json:"unet_1024_cpu_s"`
	UNet1024GFLOP float64  `json:"unet_1024_gflop"`

	TurboLoadS   *float64 `json:"turbo_512_load_s"`
	Turbo512S    *float64 `json:"turbo_512_1step_s"`
	Turbo512CPU  *float64 `json:"turbo_512_1step_cpu_s"`
	TurboPeakRSS *float64 `json:"turbo_512_peak_rss_mb"`

	Txt2ImgLoadS   *float64 `json:"txt2img_1024_load_s"`
	Txt2Img1024S   *float64 `json:"txt2img_1024_1step_s"`
	Txt2Img1024CPU *float64 `json:"txt2img_1024_1step_cpu_s"`
	Txt2ImgPeakRSS *float64 `json:"txt2img_1024_peak_rss_mb"`
}

func runBenchSDXL(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	fs.String("model", "sdxl", "the model whose shapes are measured: sd15 or sdxl")
	f := addBenchFlags(fs, "skip the 1024×1024 measurements", "skip the txt2img runs in child processes")
	size := fs.Int("size", 0, "the child's image side (internal)")
	cfg := fs.Float64("cfg-scale", 0, "the child's guidance scale (internal)")
	spacing := fs.String("timestep-spacing", "", "the child's timestep spacing (internal)")
	for _, n := range []string{"size", "cfg-scale", "timestep-spacing"} {
		fs.MarkHidden(n)
	}
	if err := parse(fs, benchSDXLUsage, args, stdout); err != nil {
		return err
	}
	if err := f.check(fs); err != nil {
		return err
	}
	sdxlBenchSpec().register() // before the child, which loads the file
	if *f.child != "" {
		return benchSDXLChild(*f.child, *f.tokenizer, *size, *cfg, scheduler.Spacing(*spacing), stdout)
	}
	quick, keep := f.quick, f.dir
	spec := sdxlBenchSpec()
	r := xlBenchReport{GOARCH: runtime.GOARCH, Kernel: gemm.Kernel(), Threads: nn.Threads(), CPUs: runtime.NumCPU(), Model: spec.name}
	progress := f.progress(stderr)
	progress("sdgo bench --model sdxl: %s/%s, %s kernel, %d threads", runtime.GOOS, r.GOARCH, r.Kernel, r.Threads)

	entries, err := pipeline.SDXLSingleFileTensors(spec.unet, spec.te1, spec.te2, spec.vae)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, e := range entries {
		n := int64(nn.Numel(e.Shape))
		r.Params += n
		if strings.HasPrefix(e.Name, weights.LDMUNetPrefix) {
			r.UNetPar += n
		}
	}
	r.FileMB = float64(2*r.Params) / 1e6
	dir, cleanup, err := f.workDir()
	if err != nil {
		return err
	}
	defer cleanup()
	ckpt := filepath.Join(dir, spec.name+".safetensors")
	if _, err := os.Stat(ckpt); err != nil || *keep == "" {
		progress("writing a random %s checkpoint (fp16, %.1f B parameters, %.0f MB) to %s", spec.name, float64(r.Params)/1e9, r.FileMB, dir)
		start := time.Now()
		if err := writeBenchTokenizer(dir); err != nil {
			return err
		}
		if err := writeRandomEntries(ckpt, entries); err != nil {
			return err
		}
		r.WriteS = ptr(time.Since(start).Seconds())
		debug.FreeOSMemory()
	}

	// The children first, while this process holds no model: their peak
	// RSS is that of a user's run.
	if !*f.noChild {
		half := spec.size / 2
		progress("SDXL-Turbo-style %d×%d txt2img (1 step, no guidance, trailing) in a child process", half, half)
		c, err := benchSDXLSpawn(ckpt, dir, half, 1, scheduler.Trailing)
		if err != nil {
			return err
		}
		r.TurboLoadS, r.Turbo512S, r.Turbo512CPU, r.TurboPeakRSS = &c.LoadS, &c.Txt2ImgS, c.CPUS, c.PeakRSS
		if !*quick {
			progress("%d×%d txt2img (1 step, guidance 7.5) in a child process", spec.size, spec.size)
			c, err := benchSDXLSpawn(ckpt, dir, spec.size, 7.5, "")
			if err != nil {
				return err
			}
			r.Txt2ImgLoadS, r.Txt2Img1024S, r.Txt2Img1024CPU, r.Txt2ImgPeakRSS = &c.LoadS, &c.Txt2ImgS, c.CPUS, c.PeakRSS
		}
	}

	progress("loading the checkpoint")
	start := time.Now()
	m, err := pipeline.Load(ckpt, pipeline.LoadOptions{Tokenizer: dir})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer m.Close()
	r.LoadS = ptr(time.Since(start).Seconds())
	r.LoadRSS = currentRSS()

	ids1 := [][]int{m.Tokenizer.EncodePadded("a photo of a cat", 77, m.Pad), m.Tokenizer.EncodePadded("", 77, m.Pad)}
	ids2 := [][]int{m.Tokenizer.EncodePadded("a photo of a cat", 77, 0), m.Tokenizer.EncodePadded("", 77, 0)}
	var h1, h2, pooled *nn.Tensor
	r.TextEncodeS, _, err = timed("text_encode_s", func() (err error) {
		if h1, err = m.Text.Hidden(ids1, m.Text.Config.Layers-1); err != nil { // (2, 77, 768)
			return err
		}
		h2, pooled, err = m.Text2.EncodePooled(ids2, m.Text2.Config.Layers-1) // (2, 77, 1280), (2, 1280)
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: text encoders: %w", err)
	}
	progress("text encoders: %.2f s", *r.TextEncodeS)
	ctx := nn.New(2, 77, h1.Shape[2]+h2.Shape[2]) // (2, 77, 2048)
	for b := range 2 {
		for i := range 77 {
			row := ctx.Data[(b*77+i)*ctx.Shape[2]:]
			copy(row, h1.Data[(b*77+i)*h1.Shape[2]:(b*77+i+1)*h1.Shape[2]])
			copy(row[h1.Shape[2]:], h2.Data[(b*77+i)*h2.Shape[2]:(b*77+i+1)*h2.Shape[2]])
		}
	}
	m.ReleasePages()
	unetCall := func(name string, side int) (*float64, *float64, float64, error) {
		c := m.UNet.Config
		x := nn.New(2, c.InChannels, side, side) // (2, 4, side, side)
		fillNoise(x.Data, 1, 7)
		px := float32(side * m.VAEFactor())
		ids := nn.From([]float32{px, px, 0, 0, px, px, px, px, 0, 0, px, px}, 2, unet.AddTimeIDs) // (2, 6)
		wall, cpu, err := timed(name, func() error {
			_, err := m.UNet.ForwardAdded(x, []float32{999, 999}, ctx, &unet.AddedCond{TextEmbeds: pooled, TimeIDs: ids})
			return err
		})
		return wall, cpu, unet.FLOPs(c, 2, side, side) / 1e9, err
	}
	latent := spec.size / m.VAEFactor() // 128 for SDXL at 1024×1024
	if r.UNet512S, r.UNet512CPU, r.UNet512GFLOP, err = unetCall("unet_512_s", latent/2); err != nil {
		return fmt.Errorf("bench: unet: %w", err)
	}
	progress("U-Net %d², batch 2 (one guided step): %.2f s, %.0f GFLOP", spec.size/2, *r.UNet512S, r.UNet512GFLOP)
	if !*quick {
		if r.UNet1024S, r.UNet1024CPU, r.UNet1024GFLOP, err = unetCall("unet_1024_s", latent); err != nil {
			return fmt.Errorf("bench: unet: %w", err)
		}
		progress("U-Net %d², batch 2 (one guided step): %.2f s, %.0f GFLOP", spec.size, *r.UNet1024S, r.UNet1024GFLOP)
	} else {
		r.UNet1024GFLOP = unet.FLOPs(m.UNet.Config, 2, latent, latent) / 1e9
	}

	return f.report(stdout, r, func() error { return printBenchSDXL(stdout, r, spec) })
}

// printBenchSDXL writes the report as a table.
func printBenchSDXL(w io.Writer, r xlBenchReport, spec xlBenchSpec) error {
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs, %d threads, %s kernel\n", runtime.GOOS, r.GOARCH, r.CPUs, r.Threads, r.Kernel)
	fmt.Fprintf(w, "model: %s (random weights, fp16 single file, %.2f B parameters of which U-Net %.2f B, %.0f MB)\n\n",
		spec.name, float64(r.Params)/1e9, float64(r.UNetPar)/1e9, r.FileMB)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\twall\tcpu\tpeak RSS")
	f := func(v *float64, unit string) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f %s", *v, unit)
	}
	row := func(name string, s, cpu, rss *float64) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, f(s, "s"), f(cpu, "s"), f(rss, "MB"))
	}
	half, full := spec.size/2, spec.size
	row("load checkpoint", r.LoadS, nil, nil)
	row("text encoders, batch 2", r.TextEncodeS, nil, nil)
	row(fmt.Sprintf("U-Net %d², batch 2 (%.0f GFLOP)", half, r.UNet512GFLOP), r.UNet512S, r.UNet512CPU, nil)
	row(fmt.Sprintf("U-Net %d², batch 2 (%.0f GFLOP)", full, r.UNet1024GFLOP), r.UNet1024S, r.UNet1024CPU, nil)
	row(fmt.Sprintf("Turbo txt2img %d², 1 step (child)", half), r.Turbo512S, r.Turbo512CPU, r.TurboPeakRSS)
	row(fmt.Sprintf("txt2img %d², 1 guided step (child)", full), r.Txt2Img1024S, r.Txt2Img1024CPU, r.Txt2ImgPeakRSS)
	return tw.Flush()
}

// benchSDXLChild loads ckpt, makes one one-step image and prints a childReport.
func benchSDXLChild(ckpt, tokDir string, size int, cfg float64, spacing scheduler.Spacing, stdout io.Writer) error {
	cpu := cpuSeconds()
	start := time.Now()
	m, err := pipeline.Load(ckpt, pipeline.LoadOptions{Tokenizer: tokDir, TimestepSpacing: spacing})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer m.Close()
	tuneGC(m) // as sdgo itself runs
	var c childReport
	c.LoadS = time.Since(start).Seconds()
	start = time.Now()
	_, err = m.Generate(context.Background(), pipeline.Options{
		Prompt: "a photo of a cat", Width: size, Height: size, Steps: 1, CFGScale: cfg, Seed: 1,
	})
	if err != nil {
		return fmt.Errorf("bench: txt2img: %w", err)
	}
	c.Txt2ImgS = time.Since(start).Seconds()
	c.CPUS = cpuSince(cpu)
	c.PeakRSS = peakRSS()
	return json.NewEncoder(stdout).Encode(c)
}

// benchSDXLSpawn re-executes this program as a benchSDXLChild.
func benchSDXLSpawn(ckpt, tokDir string, size int, cfg float64, spacing scheduler.Spacing) (childReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return childReport{}, fmt.Errorf("bench: %w", err)
	}
	cmd := exec.Command(exe, "bench", "--model", "sdxl", "--txt2img-child", ckpt, "--tokenizer", tokDir,
		"--threads", strconv.Itoa(nn.Threads()), "--size", strconv.Itoa(size),
		"--cfg-scale", strconv.FormatFloat(cfg, 'g', -1, 64), "--timestep-spacing", string(spacing))
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return childReport{}, fmt.Errorf("bench: txt2img child: %w", err)
	}
	var c childReport
	if err := json.Unmarshal(out, &c); err != nil {
		return childReport{}, fmt.Errorf("bench: txt2img child printed %q: %w", out, err)
	}
	return c, nil
}

// writeRandomEntries writes entries (names and shapes) to path in fp16 with
// random weights: uniform with variance
// 1/fan-in, norms' weights 1, biases 0, tensors of one fan-in sharing one
// buffer.
func writeRandomEntries(path string, list []weights.Entry) error {
	entries := make([]weights.Entry, len(list))
	need := map[int]int{} // fan-in -> largest tensor of that fan-in
	for i, e := range list {
		entries[i] = weights.Entry{Name: e.Name, DType: weights.F16, Shape: e.Shape}
		if len(e.Shape) > 1 {
			fan := nn.Numel(e.Shape) / e.Shape[0]
			need[fan] = max(need[fan], nn.Numel(e.Shape))
		} else {
			need[0] = max(need[0], nn.Numel(e.Shape))
		}
	}
	ones, zeros := make([]float32, need[0]), make([]float32, need[0])
	for i := range ones {
		ones[i] = 1
	}
	random := map[int][]float32{}
	seed := uint64(1)
	for fan, n := range need {
		if fan > 0 {
			random[fan] = make([]float32, n)
			seed++
			fillNoise(random[fan], float32(math.Sqrt(3/float64(fan))), seed)
		}
	}
	for i, e := range entries {
		n := nn.Numel(e.Shape)
		switch {
		case len(e.Shape) > 1:
			entries[i].Float = random[n/e.Shape[0]][:n]
		case strings.HasSuffix(e.Name, ".weight"): // a norm's scale
			entries[i].Float = ones[:n]
		default:
			entries[i].Float = zeros[:n]
		}
	}
	if err := weights.Write(path, entries, map[string]string{"sdgo": "bench: random weights"}, true); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
