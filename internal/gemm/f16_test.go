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

// TestSgemmF16 checks that SgemmF16A and SgemmF16B equal Sgemm on the
// operand converted to float32, bit for bit, on every path.
func TestSgemmF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, pa := range paths() {
		use(t, pa)
		for si, s := range shapes {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				sc := scalars[(si+tr)%len(scalars)]
				p := newProblem(rng, transA, transB, s.m, s.n, s.k, si%3*4, sc.alpha, sc.beta)
				a16, b16 := half(p.a), half(p.b) // and p.a, p.b rounded to half precision
				name := fmt.Sprintf("%s/%dx%dx%d/tA=%v/tB=%v", pa, s.m, s.n, s.k, transA, transB)
				want := p.run()
				gotA := append([]float32(nil), p.c...)
				SgemmF16A(p.transA, p.transB, p.m, p.n, p.k, p.alpha, a16, p.lda, p.b, p.ldb, p.beta, gotA, p.ldc)
				gotB := append([]float32(nil), p.c...)
				SgemmF16B(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, b16, p.ldb, p.beta, gotB, p.ldc)
				for i := range want {
					if math.Float32bits(gotA[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: SgemmF16A: C[%d] = %v, Sgemm on converted A gives %v", name, i, gotA[i], want[i])
					}
					if math.Float32bits(gotB[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: SgemmF16B: C[%d] = %v, Sgemm on converted B gives %v", name, i, gotB[i], want[i])
					}
				}
			}
		}
	}
}

// half rounds x to half precision in place and returns its bits.
func half(x []float32) []uint16 {
	h := make([]uint16, len(x))
	for i, v := range x {
		h[i] = float16.Fromfloat32(v).Bits()
		x[i] = float16.Frombits(h[i]).Float32()
	}
	return h
}
