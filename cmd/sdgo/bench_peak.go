package main

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/vae"
)

// benchShares holds sdgo bench's figures against the machine: the fp32 FMA
// peak with the active kernel's instructions, on Threads threads and on
// one, measured before and after the parts (peak_gflops is the larger),
// each part's rate as a share of it (FLOPs counted as a direct convolution
// computes them), the U-Net's thread scaling and, with --full, the 20-step
// txt2img.
type benchShares struct {
	cpuInfo
	PeakGFLOPS        float64  `json:"peak_gflops"`
	PeakBeforeGFLOPS  float64  `json:"peak_before_gflops"`
	PeakAfterGFLOPS   *float64 `json:"peak_after_gflops"`
	Peak1GFLOPS       float64  `json:"peak_1thread_gflops"`
	GemmEfficiency    float64  `json:"gemm_efficiency"`
	UNet256GFLOPS     *float64 `json:"unet_256_gflops"`
	UNet256Eff        *float64 `json:"unet_256_efficiency"`
	UNet512GFLOPS     *float64 `json:"unet_512_gflops"`
	UNet512Eff        *float64 `json:"unet_512_efficiency"`
	VAEDecode512GFLOP *float64 `json:"vae_decode_512_gflops"`
	VAEDecode512Eff   *float64 `json:"vae_decode_512_efficiency"`
	// The same per CPU-second of the process over one core's peak measured
	// by its thread's CPU time (peak_core_gflops): the share of peak per
	// core actually obtained, which other programs on a shared machine
	// disturb much less than the wall-clock shares.
	PeakCoreGFLOPS  float64  `json:"peak_core_gflops"`
	GemmCPUGFLOPS   *float64 `json:"gemm_cpu_gflops"`
	GemmCPUEff      *float64 `json:"gemm_cpu_efficiency"`
	UNet256CPUEff   *float64 `json:"unet_256_cpu_efficiency"`
	UNet512CPUEff   *float64 `json:"unet_512_cpu_efficiency"`
	VAEDecode512CPU *float64 `json:"vae_decode_512_cpu_efficiency"`
	// The U-Net call at unet_scaling_side (512, or 256 with --quick) on
	// one thread, and its time on one thread over its time on Threads.
	UNetScalingSide *int     `json:"unet_scaling_side"`
	UNet1ThreadS    *float64 `json:"unet_1thread_s"`
	UNetScaling     *float64 `json:"unet_thread_scaling"`

	// --full: a whole 20-step txt2img at 512² (euler, guidance) in a child,
	// and the same decoded by a TAESD-shaped decoder (random weights).
	Txt2Img20S            *float64 `json:"txt2img_512_20step_s"`
	Txt2Img20CPU          *float64 `json:"txt2img_512_20step_cpu_s"`
	Txt2Img20PeakRSS      *float64 `json:"txt2img_512_20step_peak_rss_mb"`
	Txt2Img20TAESDS       *float64 `json:"txt2img_512_20step_taesd_s"`
	Txt2Img20TAESDCPU     *float64 `json:"txt2img_512_20step_taesd_cpu_s"`
	Txt2Img20TAESDPeakRSS *float64 `json:"txt2img_512_20step_taesd_peak_rss_mb"`
	// pipeline.EstimateMemory's peaks for the same two jobs.
	Txt2Img20Estimate      *float64 `json:"txt2img_512_20step_estimate_mb"`
	Txt2Img20TAESDEstimate *float64 `json:"txt2img_512_20step_taesd_estimate_mb"`
}

// cpuInfo describes the CPU the figures were measured on.
type cpuInfo struct {
	Model  string `json:"cpu_model"`
	Family int    `json:"cpu_family"`  // x86 CPU family (25 Zen 3/4, 26 Zen 5); 0 elsewhere
	ModelN int    `json:"cpu_model_n"` // x86 model number within the family
	Flags  string `json:"cpu_flags"`   // the SIMD flags that matter here
}

// readCPUInfo reads /proc/cpuinfo where there is one; elsewhere it names
// only the architecture.
func readCPUInfo() cpuInfo {
	info := cpuInfo{Model: runtime.GOARCH}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return info
	}
	defer f.Close()
	var flags []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name":
			info.Model = val
		case "cpu family":
			info.Family, _ = strconv.Atoi(val)
		case "model":
			info.ModelN, _ = strconv.Atoi(val)
		case "flags", "Features": // x86, arm64
			flags = strings.Fields(val)
		case "CPU part": // arm64: the core's part number
			if info.Model == runtime.GOARCH {
				info.Model = "arm64 CPU part " + val
			}
		}
		if key == "" && flags != nil { // first processor is enough
			break
		}
	}
	var keep []string
	for _, fl := range flags {
		switch {
		case fl == "avx", fl == "avx2", fl == "fma", fl == "f16c",
			strings.HasPrefix(fl, "avx512"), strings.HasPrefix(fl, "amx"),
			fl == "asimd", fl == "asimdhp", fl == "fphp", fl == "sve", fl == "sve2", fl == "bf16", fl == "i8mm":
			keep = append(keep, fl)
		}
	}
	info.Flags = strings.Join(keep, " ")
	return info
}

// benchGemmCPU returns the GFLOP per CPU-second of three n×n×n float32
// products, or nil where the CPU time is unknown.
func benchGemmCPU(n int) *float64 {
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	fillNoise(a, 1, 1)
	fillNoise(b, 1, 2)
	nn.MatMul(false, false, n, n, n, a, n, b, n, 0, c, n) // warm up
	cpu := preciseCPU()
	for range 3 {
		nn.MatMul(false, false, n, n, n, a, n, b, n, 0, c, n)
	}
	d := preciseCPU() - cpu
	if math.IsNaN(d) || d <= 0 {
		return nil
	}
	return ptr(3 * 2 * float64(n) * float64(n) * float64(n) / d / 1e9)
}

// measurePeak is gemm.Peak on threads goroutines, about half a second.
func measurePeak(threads int) float64 { return gemm.Peak(threads, 500*time.Millisecond) }

// share returns flops/seconds as a share of peak (GFLOP/s), or nil.
func share(flops float64, seconds *float64, peak float64) *float64 {
	if seconds == nil || *seconds <= 0 || peak <= 0 {
		return nil
	}
	return ptr(flops / *seconds / 1e9 / peak)
}

// rate returns flops/seconds in GFLOP/s, or nil.
func rate(flops float64, seconds *float64) *float64 {
	if seconds == nil || *seconds <= 0 {
		return nil
	}
	return ptr(flops / *seconds / 1e9)
}

// vaeDecodeFLOPs counts the operations of one VAE decode of a latent of
// b×h×w as unet.FLOPs counts the U-Net's: 2 per multiply-add of every
// convolution (as a direct convolution computes it, whatever algorithm
// runs) and of the mid block's attention; norms and activations left out.
func vaeDecodeFLOPs(cfg vae.Config, b, h, w int) float64 {
	var f float64
	conv := func(in, out, k, h, w int) { f += 2 * float64(b*h*w) * float64(in*out*k*k) }
	resnet := func(in, out, h, w int) {
		conv(in, out, 3, h, w)
		conv(out, out, 3, h, w)
		if in != out {
			conv(in, out, 1, h, w)
		}
	}
	n := len(cfg.BlockOut)
	top := cfg.BlockOut[n-1]
	if cfg.PostQuantConv {
		conv(cfg.LatentChannels, cfg.LatentChannels, 1, h, w)
	}
	conv(cfg.LatentChannels, top, 3, h, w)
	resnet(top, top, h, w)
	if cfg.MidAttention {
		hw := float64(h * w)
		f += 4 * 2 * float64(b) * hw * float64(top*top)  // q, k, v, proj_out
		f += 2 * 2 * float64(b) * hw * hw * float64(top) // Q·Kᵀ and scores·V
	}
	resnet(top, top, h, w)
	prev := top
	for i := range n {
		out := cfg.BlockOut[n-1-i]
		for j := 0; j <= cfg.LayersPerBlock; j++ {
			in := out
			if j == 0 {
				in = prev
			}
			resnet(in, out, h, w)
		}
		if i < n-1 {
			h, w = 2*h, 2*w
			conv(out, out, 3, h, w)
		}
		prev = out
	}
	conv(cfg.BlockOut[0], cfg.OutChannels, 3, h, w)
	return f
}
