package gemm

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x448/float16"

	"github.com/sdgo/sdgo/internal/cputime"
)

// benchShapes are a square reference and the products of Stable Diffusion 1.5
// at 512×512 (latent 64×64): U-Net convolutions, attention and linear layers,
// and the text encoder's MLP.
var benchShapes = []struct {
	name           string
	m, n, k        int
	transA, transB bool
	ld             int // stride of the attention operands Q, K, V and O: heads·Dh
}{
	{"square1024", 1024, 1024, 1024, false, false, 0},
	// Convolutions 3×3 lowered to GEMM: (Cout, Cin·9)·(Cin·9, H·W).
	{"conv64x64x320", 320, 4096, 2880, false, false, 0},
	{"conv32x32x640", 640, 1024, 5760, false, false, 0},
	{"conv16x16x1280", 1280, 256, 11520, false, false, 0},
	// The same convolutions as nn computes them: one GEMM per tap of the
	// 3×3 kernel, (Cout, Cin)·(Cin, rows·(W+2)), over the zero-padded input.
	{"tap64x64x320", 320, 63*66 + 64, 320, false, false, 0},
	{"tap32x32x640", 640, 31*34 + 32, 640, false, false, 0},
	{"tap16x16x1280", 1280, 15*18 + 16, 1280, false, false, 0},
	// Self-attention at 64×64 with head size 40: Q·Kᵀ then P·V.
	{"attnQK4096x40", 4096, 4096, 40, false, true, 0},
	{"attnPV4096x40", 4096, 40, 4096, false, false, 0},
	// The same in nn.Attention's blocks of 256 query rows, one head of 8 in
	// (B, L, 320) tensors.
	{"attnQK256x4096x40", 256, 4096, 40, false, true, 320},
	{"attnPV256x40x4096", 256, 40, 4096, false, false, 320},
	// nn.Attention's flash tiles: 96 query rows by 512 keys of one head.
	{"flashQK96x512x40", 96, 512, 40, false, true, 320},
	{"flashPV96x40x512", 96, 40, 512, false, false, 320},
	// Linear layers, weight stored (out, in): the text encoder's MLP
	// (77, 768)·(768, 3072), and the U-Net's feed-forward at 64×64 for a
	// batch of 2, (8192, 320)·(320, 2560).
	{"linear77x768x3072", 77, 3072, 768, false, true, 0},
	{"linear8192x320x2560", 8192, 2560, 320, false, true, 0},
}

var benchThreads = flag.Int("threads", 0, "goroutines for the Sgemm benchmarks (0: GOMAXPROCS)")

// BenchmarkSgemm measures every path on benchShapes. -threads sets the
// goroutines; docs/PERFORMANCE.md has the figures.
func BenchmarkSgemm(b *testing.B) {
	SetThreads(*benchThreads)
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		lda, ldb, ldc := s.k, s.n, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		if s.ld > 0 && s.transB { // Q·Kᵀ
			lda, ldb = s.ld, s.ld
		} else if s.ld > 0 { // P·V
			ldb, ldc = s.ld, s.ld
		}
		a := random(rng, s.m*lda)
		bm := random(rng, s.k*ldb)
		if s.transB {
			bm = random(rng, s.n*ldb)
		}
		c := make([]float32, s.m*ldc)
		for _, p := range paths() {
			b.Run(fmt.Sprintf("%s/%s", s.name, p), func(b *testing.B) {
				use(b, p)
				cpu := cputime.Process()
				for b.Loop() {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, ldc)
				}
				report(b, s.m, s.n, s.k, cputime.Process()-cpu)
			})
		}
	}
}

// report adds the rate of b's products to its results: GFLOP/s by the clock,
// and GFLOP per CPU-second of the process, which is the rate per core and
// less disturbed when other processes share the cores.
func report(b *testing.B, m, n, k int, cpu time.Duration) {
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSgemmF16B measures SgemmF16B on the shapes of linear layers, whose
// weights are B, and the square reference.
func BenchmarkSgemmF16B(b *testing.B) {
	SetThreads(*benchThreads)
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		if s.ld > 0 || !(s.transB || s.name == "square1024") {
			continue
		}
		lda, ldb := s.k, s.n
		if s.transB {
			ldb = s.k
		}
		a := random(rng, s.m*lda)
		bm := make([]uint16, s.k*s.n)
		for i := range bm {
			bm[i] = float16.Fromfloat32(2*rng.Float32() - 1).Bits()
		}
		c := make([]float32, s.m*s.n)
		for _, p := range paths() {
			b.Run(fmt.Sprintf("%s/%s", s.name, p), func(b *testing.B) {
				use(b, p)
				cpu := cputime.Process()
				for b.Loop() {
					SgemmF16B(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				report(b, s.m, s.n, s.k, cputime.Process()-cpu)
			})
		}
	}
}

// BenchmarkSgemmF16A measures SgemmF16A on the shapes of convolutions, whose
// weights are A, and the square reference.
func BenchmarkSgemmF16A(b *testing.B) {
	SetThreads(*benchThreads)
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		if s.transA || s.transB || s.ld > 0 || s.name == "attnPV4096x40" {
			continue
		}
		a := make([]uint16, s.m*s.k)
		for i := range a {
			a[i] = float16.Fromfloat32(2*rng.Float32() - 1).Bits()
		}
		bm := random(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, p := range paths() {
			b.Run(fmt.Sprintf("%s/%s", s.name, p), func(b *testing.B) {
				use(b, p)
				cpu := cputime.Process()
				for b.Loop() {
					SgemmF16A(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
				}
				report(b, s.m, s.n, s.k, cputime.Process()-cpu)
			})
		}
	}
}

// BenchmarkTile measures a micro-kernel alone on packed operands that stay in
// the L1 cache: the ceiling of each path on one core.
func BenchmarkTile(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, p := range paths() {
		if p == pathGonum {
			continue
		}
		kern := kernelFor(p)
		const k = 128
		a := random(rng, kern.mr*k)
		bp := random(rng, kern.nr*k)
		c := make([]float32, kern.mr*kern.nr)
		b.Run(p.String(), func(b *testing.B) {
			for b.Loop() {
				kern.tile(k, a, 1, kern.mr, bp, kern.nr, c, kern.nr, 1, 0)
			}
			flops := 2 * float64(kern.mr*kern.nr*k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
