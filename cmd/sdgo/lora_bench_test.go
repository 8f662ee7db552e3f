package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/weights"
)

// loraBenchEnv, set to a folder, runs BenchmarkLoraSD15 there (it writes a
// 1.7 GB random SD 1.5 checkpoint once and keeps it).
const loraBenchEnv = "SDGO_LORA_BENCH_DIR"

// isLoraTarget reports whether a U-Net or text-encoder weight is one a
// typical kohya LoCon targets: every linear and convolution of the
// attention blocks and resnets, the down- and upsamplers (not conv_in,
// conv_out or the time embedding).
func isLoraTarget(name string, shape []int) bool {
	if len(shape) < 2 || !strings.HasSuffix(name, ".weight") {
		return false
	}
	for _, s := range []string{"attentions.", "resnets.", "samplers.", "text_model.encoder."} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// writeRandomLora writes a kohya LoRA of rank r (alpha r/2) on every
// target weight of ws (diffusers names, prefix "unet." or "text_encoder.")
// in fp16, and returns its module count.
func writeRandomLora(path string, ws map[string]*nn.Tensor, r int) (int, error) {
	var names []string
	for n, t := range ws {
		if isLoraTarget(n, t.Shape) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var entries []weights.Entry
	under := strings.NewReplacer(".", "_")
	for i, n := range names {
		shape := ws[n].Shape
		out, cols := shape[0], nn.Numel(shape)/shape[0]
		mod := strings.TrimSuffix(n, ".weight")
		key := "lora_te_" + under.Replace(strings.TrimPrefix(mod, lora.TextPrefix))
		if strings.HasPrefix(mod, lora.UNetPrefix) {
			key = "lora_unet_" + under.Replace(strings.TrimPrefix(mod, lora.UNetPrefix))
		}
		downShape := append([]int{r}, shape[1:]...) // (r, in[, kh, kw])
		upShape := []int{out, r}
		if len(shape) == 4 {
			upShape = []int{out, r, 1, 1}
		}
		down, up := make([]float32, r*cols), make([]float32, out*r)
		fillNoise(down, 0.05, uint64(2*i+1))
		fillNoise(up, 0.05, uint64(2*i+2))
		entries = append(entries,
			weights.Entry{Name: key + ".lora_down.weight", DType: weights.F16, Shape: downShape, Float: down},
			weights.Entry{Name: key + ".lora_up.weight", DType: weights.F16, Shape: upShape, Float: up},
			weights.Entry{Name: key + ".alpha", DType: weights.F16, Shape: []int{}, Float: []float32{float32(r) / 2}})
	}
	return len(names), weights.Write(path, entries, map[string]string{"ss_network_dim": fmt.Sprint(r)}, true)
}

// BenchmarkLoraSD15 measures the two ways of applying a rank-32 kohya LoCon
// (every attention, resnet and sampler layer of the U-Net, every text-encoder
// linear) to a random SD 1.5 fp16 checkpoint, at a 256×256 U-Net call
// (batch 2, as with guidance):
//
//   - merge (what sdgo does): reading the file, merging into private copies
//     of the touched weights, their memory, and the U-Net call after;
//   - low rank at run time (y = Wx + s·B(Ax)): the extra products of one
//     U-Net call, timed layer by layer at the call's activation sizes.
//
// Run: SDGO_LORA_BENCH_DIR=/tmp/lora-bench go test ./cmd/sdgo -run '^$' -bench LoraSD15 -benchtime 1x
func BenchmarkLoraSD15(b *testing.B) {
	dir := os.Getenv(loraBenchEnv)
	if dir == "" {
		b.Skipf("set %s to a folder to run (writes a 1.7 GB checkpoint)", loraBenchEnv)
	}
	spec := sd15Spec()
	ckpt := filepath.Join(dir, spec.name+".safetensors")
	if _, err := os.Stat(ckpt); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := writeBenchTokenizer(dir); err != nil {
			b.Fatal(err)
		}
		if err := writeBenchCheckpoint(ckpt, spec); err != nil {
			b.Fatal(err)
		}
	}
	// Loaded as the command loads it: fp16 weights memory-mapped, the
	// U-Net's pages given back after each block.
	start := time.Now()
	m, err := pipeline.Load(ckpt, pipeline.LoadOptions{Tokenizer: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	load := time.Since(start).Seconds()
	all := map[string]*nn.Tensor{}
	for n, t := range m.UNet.Weights {
		all[lora.UNetPrefix+n] = t
	}
	for n, t := range m.Text.Weights {
		all[lora.TextPrefix+n] = t
	}
	const rank = 32
	lpath := filepath.Join(dir, "locon-r32.safetensors")
	modules, err := writeRandomLora(lpath, all, rank)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(lpath)

	ctx, err := m.Text.Encode([][]int{m.Tokenizer.EncodePadded("a cat", 77, m.Pad), m.Tokenizer.EncodePadded("", 77, m.Pad)}, clip.EncodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const side = 32 // latent of a 256×256 image
	x := nn.New(2, 4, side, side)
	fillNoise(x.Data, 1, 7)
	step := func() float64 {
		start := time.Now()
		if _, err := m.UNet.Forward(x, []float32{999, 999}, ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start).Seconds()
	}
	b.ResetTimer()
	for range b.N {
		// Each phase's peak RSS (VmHWM) is measured from a reset of the
		// high-water mark with the Go heap's free pages given back first.
		resetPeakRSS()
		base := step()
		peakBase := peakRSS()
		rss0 := currentRSS()
		start := time.Now()
		a, err := lora.Open(lpath)
		if err != nil {
			b.Fatal(err)
		}
		read := time.Since(start).Seconds()
		// Run time: the base step with the factors held, and the products
		// the LoRA adds to it, timed apart (lowRankCost).
		resetPeakRSS()
		step()
		extra, extraFLOPs := lowRankCost(a, m, side)
		peakLowRank := peakRSS()
		// Merge: the merge itself, then a step with the merged weights.
		resetPeakRSS()
		start = time.Now()
		ix := lora.NewIndex(m.UNet.Weights, m.Text.Weights)
		ix.Release = func() { m.ReleasePages() } // as the pipeline's index of a streamed model
		p, err := lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 0.8}}, false)
		if err != nil {
			b.Fatal(err)
		}
		merge := time.Since(start).Seconds()
		rss1 := currentRSS()
		merged := step()
		peakMerge := peakRSS()
		start = time.Now()
		p.Undo()
		undo := time.Since(start).Seconds()
		b.ReportMetric(load, "load_s")
		for _, pk := range []struct {
			v    *float64
			name string
		}{{peakBase, "peak_rss_base_MB"}, {peakLowRank, "peak_rss_lowrank_MB"}, {peakMerge, "peak_rss_merge_MB"}} {
			if pk.v != nil {
				b.ReportMetric(*pk.v, pk.name)
			}
		}
		b.ReportMetric(extraFLOPs/unet.FLOPs(m.UNet.Config, 2, side, side), "lowrank_flop_ratio")
		b.ReportMetric(float64(modules), "modules")
		b.ReportMetric(float64(st.Size())/1e6, "file_MB")
		b.ReportMetric(read, "read_s")
		b.ReportMetric(merge, "merge_s")
		b.ReportMetric(undo, "undo_s")
		b.ReportMetric(float64(p.Weights), "weights_copied")
		b.ReportMetric(float64(p.Bytes)/1e6, "private_MB")
		if rss0 != nil && rss1 != nil {
			b.ReportMetric(*rss1-*rss0, "rss_growth_MB")
		}
		var attnBytes, unetBytes float64 // a kohya LoRA without conv_dim: the transformers' linears
		for n, t := range m.UNet.Weights {
			if len(t.Shape) >= 2 {
				unetBytes += float64(2 * nn.Numel(t.Shape))
				if strings.Contains(n, "attentions.") {
					attnBytes += float64(2 * nn.Numel(t.Shape))
				}
			}
		}
		b.ReportMetric(attnBytes/1e6, "attention_only_private_MB")
		b.ReportMetric(unetBytes/1e6, "unet_matrices_MB")
		b.ReportMetric(base, "unet256_base_s")
		b.ReportMetric(merged, "unet256_merged_s")
		b.ReportMetric(extra, "unet256_lowrank_extra_s")
	}
}

// resetPeakRSS gives the Go heap's free pages back to the system and
// resets the process's peak RSS (VmHWM) to its current RSS (Linux
// /proc/self/clear_refs "5"), so that peakRSS then reports the peak of
// what follows. Where it cannot, peakRSS keeps the peak since the start.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// lowRankCost times the products a run-time LoRA adds to one U-Net call on
// a (2, 4, side, side) latent: for each module x·Aᵀ then ·Bᵀ (a convolution
// by the (r, in, k, k) down factor, then a 1×1 one by up, for convs), at
// the activation size of its level; to_k/to_v of cross-attention see the
// 77 context tokens, time_emb_proj one row per sample.
func lowRankCost(a *lora.Adapter, m *pipeline.Model, side int) (seconds, flops float64) {
	levels := len(m.UNet.Config.BlockOutChannels)
	var total time.Duration
	for _, mod := range a.Modules {
		if !strings.HasPrefix(mod.Key, "lora_unet_") {
			continue // the text encoder runs once per image, not per step
		}
		down, up := mod.Parts["down"], mod.Parts["up"]
		r := down.Shape[0]
		level, stride := 0, 1
		k := mod.Key
		var i int
		switch {
		case strings.HasPrefix(k, "lora_unet_down_blocks_"):
			fmt.Sscanf(k, "lora_unet_down_blocks_%d", &i)
			level = i
			if strings.Contains(k, "downsamplers") {
				stride = 2
			}
		case strings.HasPrefix(k, "lora_unet_up_blocks_"):
			fmt.Sscanf(k, "lora_unet_up_blocks_%d", &i)
			level = levels - 1 - i
			if strings.Contains(k, "upsamplers") {
				level-- // the conv runs after the ×2 upsampling
			}
		default:
			level = levels - 1 // mid_block
		}
		s := side >> level
		in := down.Shape[1]
		start := time.Now()
		if len(down.Shape) == 4 {
			x := nn.New(2, in, s, s)
			kh := down.Shape[2]
			h := nn.Conv2d(x, down, nil, stride, kh/2) // (2, in, s, s) -> (2, r, s', s')
			y := nn.Conv2d(h, up, nil, 1, 0)           // (2, r, s', s') -> (2, out, s', s')
			flops += 2 * float64(h.Shape[0]*h.Shape[2]*h.Shape[3]) * float64(r*in*kh*kh+up.Shape[0]*r)
			_ = y
		} else {
			rows := 2 * s * s
			switch {
			case strings.Contains(k, "attn2_to_k") || strings.Contains(k, "attn2_to_v"):
				rows = 2 * 77
			case strings.Contains(k, "time_emb_proj"):
				rows = 2
			}
			x := nn.New(rows, in)
			h := nn.Linear(x, down, nil) // (rows, in) -> (rows, r)
			y := nn.Linear(h, up, nil)   // (rows, r) -> (rows, out)
			flops += 2 * float64(rows) * float64(r*in+up.Shape[0]*r)
			_ = y
		}
		total += time.Since(start)
	}
	return total.Seconds(), flops
}
