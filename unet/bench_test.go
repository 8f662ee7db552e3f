package unet

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/sdgo/sdgo/internal/cputime"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// randomModel builds a model of cfg with random weights directly in memory:
// the tree is loaded from an empty source (every tensor comes back as zeros
// of its checked shape), then filled. Norms get weight 1 and bias 0, other
// weights uniform with variance 1/fan_in, other biases small.
func randomModel(cfg Config, seed uint64) *Model {
	m := load(weights.NewLoader(weights.Multi{}, ""), cfg)
	randomize(reflect.ValueOf(m), &seed)
	return m
}

var (
	tensorType = reflect.TypeFor[*nn.Tensor]()
	normTypes  = map[reflect.Type]bool{reflect.TypeFor[layer.GroupNorm](): true, reflect.TypeFor[layer.LayerNorm](): true}
)

// randomize walks v's structs, pointers and slices and fills every tensor.
func randomize(v reflect.Value, seed *uint64) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type() == tensorType {
			t := v.Interface().(*nn.Tensor)
			fanIn := 1
			if len(t.Shape) > 1 {
				fanIn = len(t.Data) / t.Shape[0]
			}
			*seed++
			fillUniform(t.Data, float32(math.Sqrt(3/float64(fanIn))), *seed)
			return
		}
		randomize(v.Elem(), seed)
	case reflect.Slice:
		for i := range v.Len() {
			randomize(v.Index(i), seed)
		}
	case reflect.Struct:
		if normTypes[v.Type()] {
			fill(v.FieldByName("Weight").Interface().(*nn.Tensor).Data, 1)
			return // bias stays 0
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				randomize(v.Field(i), seed)
			}
		}
	}
}

func fill(d []float32, v float32) {
	for i := range d {
		d[i] = v
	}
}

// fillUniform fills d with uniform values in [-a, a) from a splitmix64
// stream per chunk, in parallel.
func fillUniform(d []float32, a float32, seed uint64) {
	const chunk = 1 << 16
	nn.Parallel((len(d)+chunk-1)/chunk, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			s := seed*0x9E3779B97F4A7C15 + uint64(c)*0xBF58476D1CE4E5B9
			for i := c * chunk; i < min(len(d), (c+1)*chunk); i++ {
				s += 0x9E3779B97F4A7C15
				z := s
				z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
				z = (z ^ z>>27) * 0x94D049BB133111EB
				z ^= z >> 31
				d[i] = a * (float32(z>>40)/(1<<23) - 1)
			}
		}
	})
}

// BenchmarkForwardSD15 times one SD 1.5-size forward at batch 2 (one
// classifier-free-guidance step) with random weights of the real shapes:
// float32 (~3.4 GB), then the same weights rounded to half precision
// (~1.7 GB), as an fp16 checkpoint loads. Run one size once on a shared
// machine:
//
//	go test ./unet -run '^$' -bench 'ForwardSD15/fp16/64x64' -benchtime 1x
func BenchmarkForwardSD15(b *testing.B) {
	cfg := SD15()
	start := time.Now()
	m := randomModel(cfg, 1)
	b.Logf("random SD 1.5 U-Net built in %.1fs", time.Since(start).Seconds())
	for _, prec := range []string{"fp32", "fp16"} {
		if prec == "fp16" {
			toHalf(reflect.ValueOf(m))
		}
		for _, side := range []int{64, 32} {
			b.Run(fmt.Sprintf("%s/%dx%d", prec, side, side), func(b *testing.B) {
				const batch = 2
				x := nn.New(batch, cfg.InChannels, side, side)
				ctx := nn.New(batch, ContextLen, cfg.CrossAttentionDim)
				fillUniform(x.Data, 1.7, 2)
				fillUniform(ctx.Data, 1.7, 3)
				t := []float32{999, 999}
				b.ResetTimer()
				cpu0 := cputime.Process().Seconds()
				for b.Loop() {
					if _, err := m.Forward(x, t, ctx); err != nil {
						b.Fatal(err)
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec, "s/call")
				// CPU time shows how much of the wall time was ours on a shared machine.
				b.ReportMetric((cputime.Process().Seconds()-cpu0)/float64(b.N), "cpu-s/call")
				b.ReportMetric(FLOPs(cfg, batch, side, side)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

// toHalf converts every weight matrix (tensor of rank ≥ 2) under v to half
// precision, as weights.KeepHalf loads them.
func toHalf(v reflect.Value) {
	var ts []*nn.Tensor
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				return
			}
			if v.Type() == tensorType {
				if t := v.Interface().(*nn.Tensor); len(t.Shape) >= 2 {
					ts = append(ts, t)
				}
				return
			}
			walk(v.Elem())
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		}
	}
	walk(v)
	nn.Parallel(len(ts), 1, func(lo, hi int) {
		for _, t := range ts[lo:hi] {
			t.ToHalf()
		}
	})
}
