package vae

import (
	"bufio"
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
				scale = 1 / float32(len(t.Data)/t.Shape[0])
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

// benchDecode decodes a size×size image with SD 1.5's VAE shape.
func benchDecode(b *testing.B, size int, tiled bool) {
	m := randomModel(SD15())
	f := m.Config.ScaleFactor()
	z := nn.New(1, 4, size/f, size/f)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range z.Data {
		z.Data[i] = float32(r.NormFloat64())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		var err error
		if tiled {
			_, err = m.DecodeTiled(z, m.DefaultTiling())
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
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
}

// BenchmarkDecode512 is SD 1.5's VAE decoding one 512×512 image (random
// weights). Run with -benchtime 1x: one decode takes seconds.
func BenchmarkDecode512(b *testing.B) { benchDecode(b, 512, false) }

// BenchmarkDecodeTiled1024 decodes 1024×1024 in tiles of 512×512 (3×3
// tiles after the first up block, one stats pass): memory stays that of
// one tile. It takes minutes.
func BenchmarkDecodeTiled1024(b *testing.B) { benchDecode(b, 1024, true) }
