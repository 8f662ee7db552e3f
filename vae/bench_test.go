package vae

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// noWeights is a source with no tensors: loading from it yields zero
// tensors of the right shapes (and errors, which randomModel ignores).
type noWeights struct{}

func (noWeights) Names() []string                   { return nil }
func (noWeights) Info(string) (weights.Info, bool)  { return weights.Info{}, false }
func (noWeights) Tensor(string) (*nn.Tensor, error) { return nil, weights.ErrNotFound }

// randomModel builds a model of cfg's shape with small random weights.
func randomModel(cfg Config) *Model {
	ld := weights.NewLoader(noWeights{}, "")
	m := &Model{Config: cfg, Decoder: loadDecoder(ld.Sub("decoder"), cfg), Encoder: loadEncoder(ld.Sub("encoder"), cfg)}
	q, p := layer.NewConv2d(ld, 2*cfg.LatentChannels, 2*cfg.LatentChannels, 1, 1, 0), layer.NewConv2d(ld, cfg.LatentChannels, cfg.LatentChannels, 1, 1, 0)
	m.QuantConv, m.PostQuantConv = &q, &p
	r := rand.New(rand.NewPCG(1, 2))
	fillRandom(reflect.ValueOf(m), r)
	return m
}

// fillRandom sets every tensor reachable from v to uniform values in
// ±1/√fan-in (1 for vectors), which keeps activations of order 1.
func fillRandom(v reflect.Value, r *rand.Rand) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if t, ok := v.Interface().(*nn.Tensor); ok {
			scale := float32(1)
			if len(t.Shape) > 1 {
				scale = float32(1 / math.Sqrt(float64(len(t.Data)/t.Shape[0])))
			}
			for i := range t.Data {
				t.Data[i] = (2*r.Float32() - 1) * scale
			}
			return
		}
		fillRandom(v.Elem(), r)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillRandom(v.Field(i), r)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fillRandom(v.Index(i), r)
		}
	}
}

// peakRSS is the process's peak resident memory (VmHWM) in MB, or 0.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// halveMatrices converts every weight matrix reachable from v (tensors of
// two or more dimensions) to half precision, as weights.KeepStored keeps an
// fp16 checkpoint's.
func halveMatrices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if t, ok := v.Interface().(*nn.Tensor); ok {
			if len(t.Shape) > 1 {
				t.ToHalf()
			}
			return
		}
		halveMatrices(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				halveMatrices(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			halveMatrices(v.Index(i))
		}
	}
}

// benchDecode decodes a size×size image with SD 1.5's VAE shape, with the
// weight matrices in half precision when half is set, in tiles when tl is
// not nil. Run each in its own process (-bench '^name$' -benchtime 1x) so
// that peak-RSS-MB is the decode's: the process's high-water mark, which
// includes the model's weights (SD 1.5's VAE with its encoder: 335 MB in
// float32, 167 MB in half precision).
func benchDecode(b *testing.B, size int, half bool, tl *Tiling) {
	m := randomModel(SD15())
	if half {
		halveMatrices(reflect.ValueOf(m))
	}
	z := randomLatent(size / m.Config.ScaleFactor())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	loadRSS := peakRSS()
	b.ResetTimer()
	for b.Loop() {
		var err error
		if tl != nil {
			_, err = m.DecodeTiled(z, *tl)
		} else {
			_, err = m.Decode(z)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB/op")
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "heap-sys-MB")
	b.ReportMetric(loadRSS, "load-peak-RSS-MB")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
}

// randomLatent is a (1, 4, side, side) standard normal latent.
func randomLatent(side int) *nn.Tensor {
	z := nn.New(1, 4, side, side)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range z.Data {
		z.Data[i] = float32(r.NormFloat64())
	}
	return z
}

// BenchmarkDecode512 is SD 1.5's VAE decoding one 512×512 image (random
// weights). Run with -benchtime 1x: one decode takes seconds.
func BenchmarkDecode512(b *testing.B) { benchDecode(b, 512, false, nil) }

// BenchmarkDecode512Half is BenchmarkDecode512 with the weights in half
// precision, as weights.KeepStored loads an fp16 checkpoint.
func BenchmarkDecode512Half(b *testing.B) { benchDecode(b, 512, true, nil) }

// tiled512 are tilings of a 512×512 decode (64×64 latents) that bound its
// memory: the largest activation computed whole is then one tile's.
var tiled512 = []Tiling{
	{Tile: 40, Overlap: 16, StatsPasses: 1}, // 2×2 tiles of 320×320 pixels
	{Tile: 40, Overlap: 16},                 // the same, each tile with its own statistics
	{Tile: 32, Overlap: 8, StatsPasses: 1},  // 3×3 tiles of 256×256 pixels
}

// BenchmarkDecodeTiled512 decodes 512×512 in tiles (half-precision weights).
func BenchmarkDecodeTiled512(b *testing.B) {
	for _, tl := range tiled512 {
		b.Run(fmt.Sprintf("tile=%d,overlap=%d,passes=%d", tl.Tile, tl.Overlap, tl.StatsPasses), func(b *testing.B) {
			benchDecode(b, 512, true, &tl)
		})
	}
}

// BenchmarkTiledError512 reports how far the tilings of
// BenchmarkDecodeTiled512 move a 512×512 decode with SD-size random weights
// (max and mean abs difference from the untiled decode, whose values span
// about ±max-ref). Random weights amplify changes of the GroupNorm
// statistics more than trained ones do, so this bounds the effect from above.
func BenchmarkTiledError512(b *testing.B) {
	m := randomModel(SD15())
	halveMatrices(reflect.ValueOf(m))
	z := randomLatent(64)
	want, err := m.Decode(z)
	if err != nil {
		b.Fatal(err)
	}
	for _, tl := range tiled512 {
		b.Run(fmt.Sprintf("tile=%d,overlap=%d,passes=%d", tl.Tile, tl.Overlap, tl.StatsPasses), func(b *testing.B) {
			for b.Loop() {
				got, err := m.DecodeTiled(z, tl)
				if err != nil {
					b.Fatal(err)
				}
				var maxAbs, meanAbs, maxRef float64
				for i, w := range want.Data {
					d := math.Abs(float64(got.Data[i]) - float64(w))
					maxAbs, meanAbs, maxRef = max(maxAbs, d), meanAbs+d, max(maxRef, math.Abs(float64(w)))
				}
				b.ReportMetric(maxAbs, "max-abs-diff")
				b.ReportMetric(meanAbs/float64(len(want.Data)), "mean-abs-diff")
				b.ReportMetric(maxRef, "max-ref")
			}
		})
	}
}

// BenchmarkDecodeTiled1024 decodes 1024×1024 in tiles of 512×512 (3×3
// tiles after the first up block, one stats pass): memory stays that of
// one tile. It takes minutes.
func BenchmarkDecodeTiled1024(b *testing.B) {
	m := randomModel(SD15())
	tl := m.DefaultTiling()
	benchDecode(b, 1024, false, &tl)
}
