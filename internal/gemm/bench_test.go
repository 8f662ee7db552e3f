package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are a square reference and the products of Stable Diffusion's
// U-Net at 512×512 (latent 64×64).
var benchShapes = []struct {
	name           string
	m, n, k        int
	transA, transB bool
}{
	{"square1024", 1024, 1024, 1024, false, false},
	// Convolutions 3×3 lowered to GEMM: (Cout, Cin·9)·(Cin·9, H·W).
	{"conv64x64x320", 320, 4096, 2880, false, false},
	{"conv32x32x640", 640, 1024, 5760, false, false},
	{"conv16x16x1280", 1280, 256, 11520, false, false},
	// Self-attention at 64×64 with head size 40: Q·Kᵀ then P·V.
	{"attnQK4096x40", 4096, 4096, 40, false, true},
	{"attnPV4096x40", 4096, 40, 4096, false, false},
	// Linear layer of the text encoder: (77, 768)·(768, 3072), weight stored (out, in).
	{"linear77x768x3072", 77, 3072, 768, false, true},
}

func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		a := random(rng, s.m*s.k)
		bm := random(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, p := range paths() {
			b.Run(fmt.Sprintf("%s/%s", s.name, p), func(b *testing.B) {
				use(b, p)
				for b.Loop() {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
