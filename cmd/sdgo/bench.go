package main

import (
	"bufio"
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
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

const benchUsage = `Usage: sdgo bench [--json] [--quick] [--no-txt2img] [--dir DIR] [--threads N] [--cpuprofile FILE]

Measures this machine on Stable Diffusion 1.5-sized work, with no download: it
writes an SD 1.5-shaped checkpoint of random weights (fp16, ~2 GB, in a
temporary folder, removed afterwards) with a tiny tokenizer, loads it as a
user's file is loaded, and times

  gemm_gflops               a 1024×1024×1024 float32 matrix product
  text_encode_s             the text encoder, batch 2 (prompt and negative prompt)
  unet_256_s, unet_512_s    one U-Net call at batch 2 (one step with guidance)
                            for a 256×256 and a 512×512 image
  vae_decode_512_s          the VAE decoder, 512×512
  txt2img_512_1step_s       a whole one-step 512×512 txt2img from the file, in
                            a child process, with its load_s and peak RSS
                            (txt2img_512_peak_rss_mb, Linux only)
  txt2img_512_20step_s      with --full: a whole 20-step 512×512 txt2img
                            (euler, guidance 7.5) in a child, with its
                            peak RSS (txt2img_512_20step_peak_rss_mb)
  txt2img_512_20step_taesd_s  with --full: the same decoded by a
                            TAESD-shaped decoder (random weights, as with
                            sdgo generate --taesd), with its peak RSS
  unet_1thread_s            the U-Net call on one thread (unet_thread_scaling:
                            its time over the time on all threads)

Against the machine: it first and last measures the CPU's fp32 FMA peak with
the active GEMM kernel's own instructions (peak_gflops, the larger of the two;
peak_1thread_gflops on one thread), prints the CPU's model, family and SIMD
flags, and gives every part as GFLOP/s and as a share of that peak
(gemm_efficiency, unet_512_efficiency, vae_decode_512_efficiency, ...).
On a machine other programs share, the *_cpu_efficiency figures are the
steadier ones: GFLOP per CPU-second of this process over one core's peak
measured by its thread's CPU time (peak_core_gflops).
FLOPs count 2 per multiply-add of a direct convolution, whatever algorithm
runs (Winograd can pass 100%).

Each *_s figure is wall-clock seconds; *_cpu_s beside it is the process's CPU
time over the same span (on a shared machine it shows how much of the wall
time was ours; Linux only). --quick skips the 512×512 parts.

The SDXL-shaped model (~7 GB written) has its own bench:
sdgo bench --model sdxl (its --help lists what it times).

Flags:
`

// benchEnv, when set in the environment, names a scaled-down model for
// tests ("tiny"); the child process inherits it.
const benchEnv = "SDGO_BENCH_MODEL"

// benchChildEnv marks a re-executed child: a test binary then runs the
// command instead of its tests (see TestMain).
const benchChildEnv = "SDGO_BENCH_CHILD"

// benchReport is what sdgo bench --json prints. Figures that were not
// measured (--quick, or peak RSS off Linux) are null.
type benchReport struct {
	GOARCH  string `json:"goarch"`
	Kernel  string `json:"kernel"`
	Threads int    `json:"threads"`
	CPUs    int    `json:"cpus"`
	Model   string `json:"model"`

	benchShares // the figures against the machine (bench_peak.go)

	GemmGFLOPS float64 `json:"gemm_gflops"`

	WriteS  *float64 `json:"write_checkpoint_s"`
	LoadS   *float64 `json:"load_s"`
	LoadRSS *float64 `json:"load_rss_mb"`

	TextEncodeS    *float64 `json:"text_encode_s"`
	TextEncodeCPU  *float64 `json:"text_encode_cpu_s"`
	UNet256S       *float64 `json:"unet_256_s"`
	UNet256CPU     *float64 `json:"unet_256_cpu_s"`
	UNet512S       *float64 `json:"unet_512_s"`
	UNet512CPU     *float64 `json:"unet_512_cpu_s"`
	VAEDecode512S  *float64 `json:"vae_decode_512_s"`
	VAEDecode512CP *float64 `json:"vae_decode_512_cpu_s"`

	Txt2ImgLoadS   *float64 `json:"txt2img_512_load_s"`
	Txt2Img512S    *float64 `json:"txt2img_512_1step_s"`
	Txt2Img512CPU  *float64 `json:"txt2img_512_1step_cpu_s"`
	Txt2ImgPeakRSS *float64 `json:"txt2img_512_peak_rss_mb"`
	// Txt2ImgEstimate is pipeline.EstimateMemory's peak for the same job,
	// to compare with the measured one.
	Txt2ImgEstimate *float64 `json:"txt2img_512_estimate_mb"`

	// SDXL says how to measure the SDXL-shaped model (benchSDXLPointer).
	SDXL string `json:"sdxl"`
}

// benchSDXLPointer is the SD 1.5 bench's pointer to the SDXL one, whose
// model (~7 GB written, minutes per step on a few cores) is too large to
// measure by default.
const benchSDXLPointer = "sdgo bench --model sdxl"

// benchTAESDEntries lists the tensors of a TAESD decoder for SD 1.5's latents
// (taesd_decoder.safetensors' names: taesd.py's layer indices), as the
// decoder's loader reads them: 64 channels, read from the first convolution.
func benchTAESDEntries() ([]weights.Entry, error) {
	rec := &weights.ShapeRecorder{Known: map[string][]int{"1.weight": {64, 4, 3, 3}}} // (C, latent channels, 3, 3)
	if _, err := vae.LoadTinyDecoder(rec); err != nil {
		return nil, fmt.Errorf("bench: taesd: %w", err)
	}
	return rec.Entries, nil
}

// childReport is what the child process prints: one JSON line.
type childReport struct {
	LoadS    float64  `json:"load_s"`
	Txt2ImgS float64  `json:"txt2img_s"`
	CPUS     *float64 `json:"cpu_s"`
	PeakRSS  *float64 `json:"peak_rss_mb"`
	Estimate float64  `json:"estimate_mb"` // pipeline.EstimateMemory's peak
}

func runBench(args []string, stdout, stderr io.Writer) error {
	xl, args, err := benchModel(args) // --model sdxl: bench_sdxl.go
	if err != nil {
		return err
	}
	if xl {
		return runBenchSDXL(args, stdout, stderr)
	}
	fs := newFlags("bench", stderr)
	f := addBenchFlags(fs, "skip the 512×512 measurements", "skip the txt2img in a child process")
	kernel := fs.String("kernel", "auto", "GEMM kernel to run: auto, "+strings.Join(gemm.Kernels(), ", ")+" (AVX2 on an AVX-512 CPU measures AVX2 code on that CPU, not an AVX2 CPU)")
	noScaling := fs.Bool("no-scaling", false, "skip the one-thread U-Net call that measures thread scaling")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the measurements to this file; each is labelled stage=NAME (go tool pprof -tagfocus stage=unet_512_s)")
	childSteps := fs.Int("txt2img-steps", 1, "steps of the child's txt2img (internal)")
	childSampler := fs.String("txt2img-sampler", "", "sampler of the child's txt2img (internal)")
	childTAESD := fs.String("txt2img-taesd", "", "TAESD decoder of the child's txt2img (internal)")
	full := fs.Bool("full", false, "also time whole 20-step 512×512 txt2imgs (euler, guidance 7.5), decoded by the VAE and by TAESD, each in a child process with its peak RSS (minutes on a few cores)")
	for _, n := range []string{"txt2img-steps", "txt2img-sampler", "txt2img-taesd"} {
		fs.MarkHidden(n)
	}
	if err := parse(fs, benchUsage, args, stdout); err != nil {
		return err
	}
	if err := f.check(fs); err != nil {
		return err
	}
	if err := gemm.KernelEnvErr(); err != nil {
		return err
	}
	if err := gemm.SetKernel(*kernel); err != nil {
		return usagef("--kernel: %v", err)
	}
	spec, err := benchSpecFromEnv()
	if err != nil {
		return err
	}
	spec.register()
	if *f.child != "" {
		return benchChild(*f.child, *f.tokenizer, *childTAESD, spec, *childSteps, *childSampler, stdout)
	}
	quick, noChild, keep := f.quick, f.noChild, f.dir

	r := benchReport{GOARCH: runtime.GOARCH, Kernel: gemm.Kernel(), Threads: nn.Threads(), CPUs: runtime.NumCPU(), Model: spec.name}
	progress := f.progress(stderr)
	progress("sdgo bench: %s/%s, %s kernel, %d threads", runtime.GOOS, r.GOARCH, r.Kernel, r.Threads)
	r.cpuInfo = readCPUInfo()
	r.PeakBeforeGFLOPS = measurePeak(r.Threads)
	r.Peak1GFLOPS = measurePeak(1)
	r.PeakGFLOPS = r.PeakBeforeGFLOPS
	progress("%s (family %d, model %d): fp32 FMA peak %.1f GFLOP/s on %d threads, %.1f on one", r.cpuInfo.Model, r.Family, r.ModelN, r.PeakGFLOPS, r.Threads, r.Peak1GFLOPS)
	r.PeakCoreGFLOPS = gemm.PeakCore(500 * time.Millisecond)
	r.GemmGFLOPS = benchGemm(1024)
	r.GemmCPUGFLOPS = benchGemmCPU(1024)

	dir, cleanup, err := f.workDir()
	if err != nil {
		return err
	}
	defer cleanup()
	ckpt := filepath.Join(dir, spec.name+".safetensors")
	taesd := filepath.Join(dir, "taesd-random_decoder.safetensors")
	if _, err := os.Stat(ckpt); err != nil || *keep == "" {
		progress("writing a random %s checkpoint (fp16) to %s", spec.name, dir)
		start := time.Now()
		if err := writeBenchTokenizer(dir); err != nil {
			return err
		}
		if err := writeBenchCheckpoint(ckpt, spec); err != nil {
			return err
		}
		r.WriteS = ptr(time.Since(start).Seconds())
		debug.FreeOSMemory()
	}
	if _, err := os.Stat(taesd); *full && (err != nil || *keep == "") {
		entries, err := benchTAESDEntries()
		if err != nil {
			return err
		}
		if err := writeRandomEntries(taesd, entries); err != nil {
			return err
		}
	}

	// First the child, while this process holds no model: its peak RSS is
	// that of a user's run.
	if !*quick && !*noChild {
		progress("one-step %d×%d txt2img in a child process", spec.size, spec.size)
		c, err := benchSpawnChild(ckpt, dir, nn.Threads())
		if err != nil {
			return err
		}
		r.Txt2ImgLoadS, r.Txt2Img512S, r.Txt2Img512CPU, r.Txt2ImgPeakRSS = &c.LoadS, &c.Txt2ImgS, c.CPUS, c.PeakRSS
		r.Txt2ImgEstimate = &c.Estimate
	}
	if *full {
		progress("20-step %d×%d txt2img (euler, guidance) in a child process", spec.size, spec.size)
		c, err := benchSpawnChild(ckpt, dir, nn.Threads(), "--txt2img-steps", "20", "--txt2img-sampler", "euler")
		if err != nil {
			return err
		}
		r.Txt2Img20S, r.Txt2Img20CPU, r.Txt2Img20PeakRSS, r.Txt2Img20Estimate = &c.Txt2ImgS, c.CPUS, c.PeakRSS, &c.Estimate
		progress("the same, decoded by TAESD, in a child process")
		// A new report: the first one's fields are pointed to above.
		ct, err := benchSpawnChild(ckpt, dir, nn.Threads(), "--txt2img-steps", "20", "--txt2img-sampler", "euler", "--txt2img-taesd", taesd)
		if err != nil {
			return err
		}
		r.Txt2Img20TAESDS, r.Txt2Img20TAESDCPU, r.Txt2Img20TAESDPeakRSS, r.Txt2Img20TAESDEstimate = &ct.Txt2ImgS, ct.CPUS, ct.PeakRSS, &ct.Estimate
	}

	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	progress("loading the checkpoint")
	start := time.Now()
	m, err := pipeline.Load(ckpt, pipeline.LoadOptions{Tokenizer: dir})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.LoadS = ptr(time.Since(start).Seconds())
	r.LoadRSS = currentRSS()

	ids := [][]int{
		m.Tokenizer.EncodePadded("a photo of a cat", 77, m.Pad),
		m.Tokenizer.EncodePadded("", 77, m.Pad),
	}
	var ctx *nn.Tensor
	r.TextEncodeS, r.TextEncodeCPU, err = timed("text_encode_s", func() (err error) {
		ctx, err = m.Text.Encode(ids, clip.EncodeOptions{}) // (2, 77, D)
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: text encoder: %w", err)
	}
	progress("text encoder: %.3f s", *r.TextEncodeS)

	unetCall := func(name string, side int) (*float64, *float64, error) {
		c := m.UNet.Config
		x := nn.New(2, c.InChannels, side, side) // (2, 4, side, side)
		fillNoise(x.Data, 1, 7)
		return timed(name, func() error {
			_, err := m.UNet.Forward(x, []float32{999, 999}, ctx)
			return err
		})
	}
	latent := spec.size / m.VAEFactor() // 64 for SD 1.5 at 512×512
	if r.UNet256S, r.UNet256CPU, err = unetCall("unet_256_s", latent/2); err != nil {
		return fmt.Errorf("bench: unet: %w", err)
	}
	progress("U-Net %d×%d, batch 2: %.2f s", spec.size/2, spec.size/2, *r.UNet256S)
	if !*quick {
		if r.UNet512S, r.UNet512CPU, err = unetCall("unet_512_s", latent); err != nil {
			return fmt.Errorf("bench: unet: %w", err)
		}
		progress("U-Net %d×%d, batch 2: %.2f s", spec.size, spec.size, *r.UNet512S)
		z := nn.New(1, m.VAE.Config.LatentChannels, latent, latent) // (1, 4, 64, 64) for SD 1.5
		fillNoise(z.Data, 1, 8)
		if r.VAEDecode512S, r.VAEDecode512CP, err = timed("vae_decode_512_s", func() error {
			_, err := m.VAE.Decode(z)
			return err
		}); err != nil {
			return fmt.Errorf("bench: vae: %w", err)
		}
		progress("VAE decode %d×%d: %.2f s", spec.size, spec.size, *r.VAEDecode512S)
	}
	if !*noScaling && r.Threads > 1 {
		side := latent
		if *quick {
			side = latent / 2
		}
		px := side * m.VAEFactor()
		r.UNetScalingSide = &px
		nn.SetThreads(1)
		s1, _, err := unetCall("unet_1thread_s", side)
		nn.SetThreads(r.Threads)
		if err != nil {
			return fmt.Errorf("bench: unet: %w", err)
		}
		r.UNet1ThreadS = s1
		tN := r.UNet512S
		if *quick {
			tN = r.UNet256S
		}
		r.UNetScaling = ptr(*s1 / *tN)
		progress("U-Net %d×%d on one thread: %.2f s (%d threads %.2f× faster)", *r.UNetScalingSide, *r.UNetScalingSide, *s1, r.Threads, *r.UNetScaling)
	}
	r.PeakAfterGFLOPS = ptr(measurePeak(r.Threads))
	r.PeakGFLOPS = max(r.PeakGFLOPS, *r.PeakAfterGFLOPS)
	r.GemmEfficiency = r.GemmGFLOPS / r.PeakGFLOPS
	unetFLOPs := func(side int) float64 { return unet.FLOPs(m.UNet.Config, 2, side, side) }
	r.UNet256GFLOPS = rate(unetFLOPs(latent/2), r.UNet256S)
	r.UNet256Eff = share(unetFLOPs(latent/2), r.UNet256S, r.PeakGFLOPS)
	r.UNet512GFLOPS = rate(unetFLOPs(latent), r.UNet512S)
	r.UNet512Eff = share(unetFLOPs(latent), r.UNet512S, r.PeakGFLOPS)
	vaeFLOPs := vaeDecodeFLOPs(m.VAE.Config, 1, latent, latent)
	r.VAEDecode512GFLOP = rate(vaeFLOPs, r.VAEDecode512S)
	r.VAEDecode512Eff = share(vaeFLOPs, r.VAEDecode512S, r.PeakGFLOPS)
	if r.GemmCPUGFLOPS != nil {
		r.GemmCPUEff = ptr(*r.GemmCPUGFLOPS / r.PeakCoreGFLOPS)
	}
	r.UNet256CPUEff = share(unetFLOPs(latent/2), r.UNet256CPU, r.PeakCoreGFLOPS)
	r.UNet512CPUEff = share(unetFLOPs(latent), r.UNet512CPU, r.PeakCoreGFLOPS)
	r.VAEDecode512CPU = share(vaeFLOPs, r.VAEDecode512CP, r.PeakCoreGFLOPS)

	r.SDXL = benchSDXLPointer
	return f.report(stdout, r, func() error { return printBench(stdout, r, spec) })
}

// printBench writes the report as a table.
func printBench(w io.Writer, r benchReport, spec benchSpec) error {
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs, %d threads, %s kernel\n", runtime.GOOS, r.GOARCH, r.CPUs, r.Threads, r.Kernel)
	fmt.Fprintf(w, "cpu: %s (family %d, model %d): %s\n", r.cpuInfo.Model, r.Family, r.ModelN, r.Flags)
	fmt.Fprintf(w, "fp32 FMA peak (%s instructions): %.1f GFLOP/s on %d threads, %.1f on one, %.1f per CPU-second of one thread\n", r.Kernel, r.PeakGFLOPS, r.Threads, r.Peak1GFLOPS, r.PeakCoreGFLOPS)
	fmt.Fprintf(w, "gemm 1024³ fp32: %.1f GFLOP/s (%.0f%% of peak)", r.GemmGFLOPS, 100*r.GemmEfficiency)
	if r.GemmCPUGFLOPS != nil {
		fmt.Fprintf(w, ", %.1f per CPU-second (%.0f%% of a core's peak)", *r.GemmCPUGFLOPS, 100**r.GemmCPUEff)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "model: %s (random weights, fp16 file)\n\n", spec.name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\twall\tcpu\tGFLOP/s\tof peak\tper CPU-s, of a core's peak")
	sec := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f s", *v)
	}
	row := func(name string, s, cpu *float64, perf ...*float64) {
		fmt.Fprintf(tw, "%s\t%s\t%s", name, sec(s), sec(cpu))
		if len(perf) == 3 && perf[0] != nil && perf[1] != nil {
			fmt.Fprintf(tw, "\t%.0f\t%.0f%%", *perf[0], 100**perf[1])
			if perf[2] != nil {
				fmt.Fprintf(tw, "\t%.0f%%", 100**perf[2])
			}
		}
		fmt.Fprintln(tw)
	}
	half, full := spec.size/2, spec.size
	row("load checkpoint", r.LoadS, nil)
	row("text encoder, batch 2", r.TextEncodeS, r.TextEncodeCPU)
	row(fmt.Sprintf("U-Net %d², batch 2", half), r.UNet256S, r.UNet256CPU, r.UNet256GFLOPS, r.UNet256Eff, r.UNet256CPUEff)
	row(fmt.Sprintf("U-Net %d², batch 2", full), r.UNet512S, r.UNet512CPU, r.UNet512GFLOPS, r.UNet512Eff, r.UNet512CPUEff)
	if r.UNet1ThreadS != nil {
		row(fmt.Sprintf("U-Net %d², one thread (%d threads %.2f× faster)", *r.UNetScalingSide, r.Threads, *r.UNetScaling), r.UNet1ThreadS, nil)
	}
	row(fmt.Sprintf("VAE decode %d²", full), r.VAEDecode512S, r.VAEDecode512CP, r.VAEDecode512GFLOP, r.VAEDecode512Eff, r.VAEDecode512CPU)
	row(fmt.Sprintf("txt2img %d², 1 step (child)", full), r.Txt2Img512S, r.Txt2Img512CPU)
	row("  child's load", r.Txt2ImgLoadS, nil)
	if r.Txt2ImgPeakRSS != nil {
		fmt.Fprintf(tw, "  child's peak RSS\t%.0f MB\t\n", *r.Txt2ImgPeakRSS)
	}
	if r.Txt2ImgEstimate != nil {
		fmt.Fprintf(tw, "  its estimate (sdgo's)\t%.0f MB\t\n", *r.Txt2ImgEstimate)
	}
	for _, w := range []struct {
		name             string
		s, cpu, rss, est *float64
	}{
		{"txt2img %d², 20 steps euler, guidance (child)", r.Txt2Img20S, r.Txt2Img20CPU, r.Txt2Img20PeakRSS, r.Txt2Img20Estimate},
		{"txt2img %d², the same decoded by TAESD (child)", r.Txt2Img20TAESDS, r.Txt2Img20TAESDCPU, r.Txt2Img20TAESDPeakRSS, r.Txt2Img20TAESDEstimate},
	} {
		if w.s == nil {
			continue
		}
		row(fmt.Sprintf(w.name, full), w.s, w.cpu)
		if w.rss != nil {
			fmt.Fprintf(tw, "  its peak RSS\t%.0f MB\t\n", *w.rss)
		}
		if w.est != nil {
			fmt.Fprintf(tw, "  its estimate (sdgo's)\t%.0f MB\t\n", *w.est)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Txt2Img20S == nil {
		fmt.Fprintln(w, "\nwhole 20-step txt2imgs (VAE and TAESD decoding, peak RSS): sdgo bench --full")
	}
	_, err := fmt.Fprintf(w, "SDXL-shaped model: %s\n", r.SDXL)
	return err
}

// benchChild loads ckpt (and taesd, a TAESD decoder, unless ""), makes one
// image of steps steps and prints a childReport.
func benchChild(ckpt, tokDir, taesd string, spec benchSpec, steps int, sampler string, stdout io.Writer) error {
	cpu := cpuSeconds()
	start := time.Now()
	m, err := pipeline.Load(ckpt, pipeline.LoadOptions{Tokenizer: tokDir})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var dec pipeline.LatentDecoder
	if taesd != "" {
		if dec, err = loadTAESD(taesd); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	tuneGC(m) // as sdgo itself runs
	var c childReport
	c.LoadS = time.Since(start).Seconds()
	start = time.Now()
	opts := pipeline.Options{
		Prompt: "a photo of a cat", Width: spec.size, Height: spec.size, Steps: steps, CFGScale: 7.5, Seed: 1,
		Sampler: sampler, Decoder: dec,
	}
	if est, err := pipeline.EstimateMemory(m, opts); err == nil {
		c.Estimate = float64(est.Peak) / 1e6 // MB of 10⁶ bytes, as the peak RSS beside it
	}
	_, err = m.Generate(context.Background(), opts)
	if err != nil {
		return fmt.Errorf("bench: txt2img: %w", err)
	}
	c.Txt2ImgS = time.Since(start).Seconds()
	c.CPUS = cpuSince(cpu)
	c.PeakRSS = peakRSS()
	return json.NewEncoder(stdout).Encode(c)
}

// benchSpawnChild re-executes this program as a benchChild.
func benchSpawnChild(ckpt, tokDir string, threads int, extra ...string) (childReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return childReport{}, fmt.Errorf("bench: %w", err)
	}
	args := append([]string{"bench", "--txt2img-child", ckpt, "--tokenizer", tokDir, "--threads", strconv.Itoa(threads)}, extra...)
	cmd := exec.Command(exe, args...)
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

// benchGemm returns the best GFLOP/s of three n×n×n float32 products.
func benchGemm(n int) float64 {
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	fillNoise(a, 1, 1)
	fillNoise(b, 1, 2)
	nn.MatMul(false, false, n, n, n, a, n, b, n, 0, c, n) // warm up
	best := math.Inf(1)
	for range 3 {
		start := time.Now()
		nn.MatMul(false, false, n, n, n, a, n, b, n, 0, c, n)
		best = min(best, time.Since(start).Seconds())
	}
	return 2 * float64(n) * float64(n) * float64(n) / best / 1e9
}

// timed runs f and returns its wall and CPU seconds. Its samples in a CPU
// profile carry the label stage=name, inherited by the goroutines it starts.
func timed(name string, f func() error) (wall, cpu *float64, err error) {
	runtime.GC()
	c := cpuSeconds()
	start := time.Now()
	pprof.Do(context.Background(), pprof.Labels("stage", name), func(context.Context) { err = f() })
	return ptr(time.Since(start).Seconds()), cpuSince(c), err
}

func ptr(v float64) *float64 { return &v }

// cpuSeconds is the user+system CPU time of this process so far, read from
// /proc/self/stat (in clock ticks of 1/100 s, Linux's USER_HZ), or NaN where
// there is no /proc.
func cpuSeconds() float64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return math.NaN()
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields 14 and 15, utime and stime, are the 12th and 13th after it.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if i < 0 || len(f) < 13 {
		return math.NaN()
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return math.NaN()
	}
	return (ut + st) / 100
}

// cpuSince returns the CPU seconds since start (a cpuSeconds value), or nil
// when they are unknown.
func cpuSince(start float64) *float64 {
	d := cpuSeconds() - start
	if math.IsNaN(d) {
		return nil
	}
	return &d
}

// peakRSS and currentRSS read VmHWM and VmRSS from /proc/self/status, in MB
// (10⁶ bytes); nil where there is no /proc.
func peakRSS() *float64    { return procStatus("VmHWM:") }
func currentRSS() *float64 { return procStatus("VmRSS:") }

func procStatus(key string) *float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key)
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return nil
		}
		return ptr(kb * 1024 / 1e6)
	}
	return nil
}

// fillNoise fills d with uniform values in [−a, a) from a splitmix64 stream.
func fillNoise(d []float32, a float32, seed uint64) {
	s := seed * 0x9E3779B97F4A7C15
	for i := range d {
		s += 0x9E3779B97F4A7C15
		z := s
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		z ^= z >> 31
		d[i] = a * (float32(z>>40)/(1<<23) - 1)
	}
}

// benchSpec is the architecture of the random model: SD 1.5's, or a
// scaled-down one of the same layout for tests, as component configs. Its
// checkpoint is an original (LDM) single file whose tensors the loaders
// list from these configs (pipeline.SingleFileTensors).
type benchSpec struct {
	name string
	size int // image side of the "512" measurements
	unet unet.Config
	text clip.Config
	vae  vae.Config
}

// sd15Spec is Stable Diffusion 1.5 (runwayml/stable-diffusion-v1-5: unet,
// text_encoder and vae config.json).
func sd15Spec() benchSpec {
	return benchSpec{name: "sd15-random", size: 512, unet: unet.SD15(), text: clip.SD1(), vae: vae.SD15()}
}

// tinySpec keeps SD 1.5's layout at a few megabytes, for tests.
func tinySpec() benchSpec {
	s := benchSpec{name: "tiny-random", size: 64, unet: unet.SD15(), text: clip.SD1(), vae: vae.SD15()}
	u := &s.unet
	u.BlockOutChannels, u.Heads, u.TransformerLayersPerBlock = []int{32, 64}, []int{8, 8}, []int{1, 1}
	u.DownBlockTypes = []string{unet.CrossAttnDownBlock2D, unet.DownBlock2D}
	u.UpBlockTypes = []string{unet.UpBlock2D, unet.CrossAttnUpBlock2D}
	u.LayersPerBlock, u.CrossAttentionDim = 1, 64
	s.text.Width, s.text.MLPWidth, s.text.Heads, s.text.Layers = 64, 256, 1, 2
	s.vae.BlockOut, s.vae.LayersPerBlock = []int{32, 32}, 1
	return s
}

func benchSpecFromEnv() (benchSpec, error) {
	switch v := os.Getenv(benchEnv); v {
	case "", "sd15":
		return sd15Spec(), nil
	case "tiny":
		return tinySpec(), nil
	default:
		return benchSpec{}, fmt.Errorf("bench: %s=%q: want sd15 or tiny", benchEnv, v)
	}
}

// writeBenchCheckpoint writes the random model to path in fp16 (see
// writeRandomEntries).
func writeBenchCheckpoint(path string, s benchSpec) error {
	entries, err := pipeline.SingleFileTensors(s.unet, s.text, s.vae)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return writeRandomEntries(path, entries)
}

// writeBenchTokenizer writes a tiny CLIP vocabulary to dir: the special
// tokens at their CLIP ids and the single letters, with no merges, so a
// prompt encodes letter by letter.
func writeBenchTokenizer(dir string) error {
	vocab := map[string]int{"<|startoftext|>": 49406, "<|endoftext|>": 49407}
	for c := 'a'; c <= 'z'; c++ {
		vocab[string(c)] = int(c - 'a')
		vocab[string(c)+"</w>"] = 26 + int(c-'a')
	}
	data, err := json.Marshal(vocab)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), data, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte("#version: 0.2\n"), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
