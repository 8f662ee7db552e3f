package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/internal/cputime"
)

// Benchmarks at the shapes of SD 1.5 (U-Net at 64×64 latents, VAE decoder
// at 256×256). On a shared machine run one at a time, e.g.
//
//	go test ./nn -run '^$' -bench 'Conv2d/unet' -benchtime 3x

func BenchmarkConv2d(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name             string
		n, c, h, w, o, k int
	}{
		{"unet64_320", 2, 320, 64, 64, 320, 3},
		{"unet32_640", 2, 640, 32, 32, 640, 3},
		{"vae256_256", 1, 256, 256, 256, 256, 3},
		{"vae512_128", 1, 128, 512, 512, 128, 3},
	} {
		x := randTensor(r, tc.n, tc.c, tc.h, tc.w)
		w := randTensor(r, tc.o, tc.c, tc.k, tc.k)
		bias := randTensor(r, tc.o)
		for _, path := range []struct {
			name    string
			shifted bool
			budget  int
		}{{"shifted", true, 256 << 10}, {"shifted4M", true, 4 << 20}, {"im2col", false, 0}} {
			b.Run(tc.name+"/"+path.name, func(b *testing.B) {
				defer func(v bool, n int) { useShifted, shiftBudget = v, n }(useShifted, shiftBudget)
				useShifted, shiftBudget = path.shifted, path.budget
				cpu := cputime.Process()
				for b.Loop() {
					Conv2d(x, w, bias, 1, 1)
				}
				b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N), "cpu-s/op")
				flops := 2 * float64(tc.n*tc.o*tc.h*tc.w*tc.c*tc.k*tc.k)
				b.ReportMetric(flops/b.Elapsed().Seconds()*float64(b.N)/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkUpsampleConv compares the fused upsampler of the VAE decoder at
// its last level, (1, 256, 256, 256) -> (1, 256, 512, 512), with its two steps.
func BenchmarkUpsampleConv(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	x := randTensor(r, 1, 256, 256, 256)
	w, bias := randTensor(r, 256, 256, 3, 3), randTensor(r, 256)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"fused", func() { Conv2dUpsample2x(x, w, bias, 1) }},
		{"two_steps", func() { Conv2d(UpsampleNearest2x(x), w, bias, 1, 1) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				tc.f()
			}
			b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkNormConv compares GroupNormSiLUConv2d with its steps on the first
// half of a VAE decoder ResNet block at 512×512: (1, 256, 512, 512) -> 128.
func BenchmarkNormConv(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	x := randTensor(r, 1, 256, 512, 512)
	gw, gb := randTensor(r, 256), randTensor(r, 256)
	w, bias := randTensor(r, 128, 256, 3, 3), randTensor(r, 128)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"fused", func() { GroupNormSiLUConv2d(x, 32, gw, gb, 1e-6, w, bias, 1) }},
		{"two_steps", func() { Conv2d(GroupNormSiLU(x, 32, gw, gb, 1e-6), w, bias, 1, 1) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				tc.f()
			}
			b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, tc := range []struct{ b, lq, lk, heads, dh int }{
		{2, 4096, 4096, 8, 40},  // U-Net self-attention at 64×64 latents
		{2, 1024, 1024, 8, 80},  // and at 32×32
		{2, 4096, 77, 8, 40},    // its cross-attention
		{1, 4096, 4096, 1, 512}, // VAE mid-block at 512×512
	} {
		dim := tc.heads * tc.dh
		q, k, v := randTensor(r, tc.b, tc.lq, dim), randTensor(r, tc.b, tc.lk, dim), randTensor(r, tc.b, tc.lk, dim)
		b.Run(fmt.Sprintf("%dx%dx%dx%d", tc.b, tc.lq, tc.lk, dim), func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				Attention(q, k, v, tc.heads, false)
			}
			b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N), "cpu-s/op")
			flops := 4 * float64(tc.b*tc.lq*tc.lk*dim)
			b.ReportMetric(flops/b.Elapsed().Seconds()*float64(b.N)/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkElementwise times the operations around the products on a
// U-Net activation at 64×64 latents, batch 2: (2, 320, 64, 64), or its
// (2, 4096, 320) token form.
func BenchmarkElementwise(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	x := randTensor(r, 2, 320, 64, 64)
	w, bias := randTensor(r, 320), randTensor(r, 320)
	tokens := x.Reshape(2, 4096, 320)
	wide := randTensor(r, 2048, 2560) // a feed-forward chunk before GEGLU
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"SiLU", func() { SiLU(x.Clone()) }},
		{"GELU", func() { GELU(x.Clone()) }},
		{"GEGLU", func() { GEGLU(wide) }},
		{"Softmax", func() { Softmax(tokens.Reshape(2*320, 4096).Clone()) }},
		{"GroupNorm", func() { GroupNorm(x, 32, w, bias, 1e-5) }},
		{"GroupNorm+SiLU", func() { SiLU(GroupNorm(x, 32, w, bias, 1e-5)) }},
		{"LayerNorm", func() { LayerNorm(tokens, w, bias, 1e-5) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				tc.f()
			}
			b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N)*1e3, "cpu-ms/op")
		})
	}
	b.Run("GroupNormSiLU", func(b *testing.B) {
		cpu := cputime.Process()
		for b.Loop() {
			GroupNormSiLU(x, 32, w, bias, 1e-5)
		}
		b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N)*1e3, "cpu-ms/op")
	})
}

// BenchmarkSiLUGrad times SiLU's backward pass (and QuickGELU's) on one
// thread over 64 Ki values (a training activation's chunk), with the AVX2
// kernel and with the Go loop it matches bit for bit.
func BenchmarkSiLUGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	x, dy, dx := randTensor(r, 1<<16), randTensor(r, 1<<16), New(1<<16)
	for _, tc := range []struct {
		name string
		f    func(dx, dy, x []float32)
	}{{"simd", siluGrad}, {"go", siluGradGo}, {"quickgelu/simd", quickGELUGrad}, {"quickgelu/go", quickGELUGradGo}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(3 * 4 << 16)
			for b.Loop() {
				tc.f(dx.Data, dy.Data, x.Data)
			}
		})
	}
}

// BenchmarkGEGLUGrad times GEGLU's backward pass on one thread over a row
// of 64 Ki gates, with the AVX2 kernel and with the Go loop it matches bit
// for bit.
func BenchmarkGEGLUGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 8))
	val, gate, dy := randTensor(r, 1<<16), randTensor(r, 1<<16), randTensor(r, 1<<16)
	dval, dgate := New(1<<16), New(1<<16)
	for _, tc := range []struct {
		name string
		f    func(dval, dgate, val, gate, dy []float32)
	}{{"simd", gegluGrad}, {"go", gegluGradGo}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(5 * 4 << 16)
			for b.Loop() {
				tc.f(dval.Data, dgate.Data, val.Data, gate.Data, dy.Data)
			}
		})
	}
}

// BenchmarkExpSub times softmax's exponential on a row of 4096 scores, with
// the AVX-512 kernel and without.
func BenchmarkExpSub(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	row := randTensor(r, 4096).Data
	work := make([]float32, len(row))
	for _, avx512 := range []bool{true, false} {
		if avx512 && !hasAVX512 {
			continue
		}
		b.Run(fmt.Sprintf("avx512=%t", avx512), func(b *testing.B) {
			defer func(v bool) { useAVX512 = v }(useAVX512)
			useAVX512 = avx512
			for b.Loop() {
				copy(work, row)
				expSub(work, 3)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(row)), "ns/value")
		})
	}
}

// BenchmarkIm2colSmall times the im2col matrix of a batch of 16 small images
// (sd-mini's U-Net levels, 3×3 "same"), with the gather for tiny planes
// (im2colGather) and without it.
func BenchmarkIm2colSmall(b *testing.B) {
	defer func(g bool) { useGather = g }(useGather)
	for _, s := range []struct{ n, c, h int }{{16, 64, 8}, {16, 128, 4}, {16, 256, 2}} {
		x := make([]float32, s.n*s.c*s.h*s.h)
		col := make([]float32, s.c*9*s.n*s.h*s.h)
		for _, g := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dx%dx%dx%d/gather=%v", s.n, s.c, s.h, s.h, g), func(b *testing.B) {
				useGather = g
				b.SetBytes(int64(len(col) * 4))
				for b.Loop() {
					Im2colBatch(col, x, s.n, s.c, s.h, s.h, 3, 3, 1, 1, 1, s.h, s.h)
				}
			})
		}
	}
}

// BenchmarkAddTo times an elementwise add of 64 Ki values (a gradient
// accumulated) on one thread, with the AVX2 kernel and with the Go loop.
func BenchmarkAddTo(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	dst, src := randTensor(r, 1<<16), randTensor(r, 1<<16)
	loop := func(d, s []float32) {
		for i, v := range s {
			d[i] += v
		}
	}
	for _, tc := range []struct {
		name string
		f    func(d, s []float32)
	}{{"simd", AddTo}, {"go", loop}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(3 * 4 << 16)
			for b.Loop() {
				tc.f(dst.Data, src.Data)
			}
		})
	}
}
