package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// TestConvert checks every half-precision value through each path's
// converter against float16.Float32.
func TestConvert(t *testing.T) {
	src := make([]uint16, 1<<16+5) // 5 more to reach the converters' tails
	for i := range src {
		src[i] = uint16(i)
	}
	for _, p := range paths() {
		kern := kernelFor(p)
		dst := make([]float32, len(src))
		kern.convert(dst, src)
		for i, h := range src {
			want := float16.Frombits(h).Float32()
			got := dst[i]
			if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
				t.Fatalf("%s: %#04x -> %v, want %v", p, h, got, want)
			}
		}
	}
}

// TestSgemmF16B checks that SgemmF16B equals Sgemm on B converted to
// float32, bit for bit, on every path.
func TestSgemmF16B(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, pa := range paths() {
		use(t, pa)
		for si, s := range shapes {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				sc := scalars[(si+tr)%len(scalars)]
				p := newProblem(rng, transA, transB, s.m, s.n, s.k, si%3*4, sc.alpha, sc.beta)
				b16 := make([]uint16, len(p.b))
				for i, v := range p.b {
					b16[i] = float16.Fromfloat32(v).Bits()
					p.b[i] = float16.Frombits(b16[i]).Float32()
				}
				name := fmt.Sprintf("%s/%dx%dx%d/tA=%v/tB=%v", pa, s.m, s.n, s.k, transA, transB)
				want := p.run()
				got := append([]float32(nil), p.c...)
				SgemmF16B(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, b16, p.ldb, p.beta, got, p.ldc)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: C[%d] = %v, Sgemm on converted B gives %v", name, i, got[i], want[i])
					}
				}
			}
		}
	}
}
