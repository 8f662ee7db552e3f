package grad

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
)

// TestWeightGradBatched compares the batched kernel gradient of a stride-1
// convolution (the avx2 path's) with the per-tap one, element by element,
// and checks that it runs only where gemm.FastOrder allows.
func TestWeightGradBatched(t *testing.T) {
	defer gemm.SetKernel("") // "" always succeeds
	for _, tc := range []struct {
		name                                    string
		n, c, o, h, w, kh, kw, top, left, right int
	}{
		{"3x3 same 8x8", 4, 8, 12, 8, 8, 3, 3, 1, 1, 1},
		{"3x3 same 2x2", 3, 5, 6, 2, 2, 3, 3, 1, 1, 1},
		{"3x3 valid", 2, 3, 4, 6, 5, 3, 3, 0, 0, 0},
		{"5x3 uneven pad", 2, 4, 3, 7, 6, 5, 3, 2, 1, 0},
		{"3x3 same 4x4, more outputs than pixels", 4, 8, 40, 4, 4, 3, 3, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			oh := tc.h + 2*tc.top - tc.kh + 1
			ow := tc.w + tc.left + tc.right - tc.kw + 1
			x := Normal(r, 1, tc.n, tc.c, tc.h, tc.w)
			dy := Normal(r, 1, tc.n, tc.o, oh, ow)
			want := make([]float32, tc.o*tc.c*tc.kh*tc.kw)
			weightGradShifted(NewTape(), want, x, dy, tc.kh, tc.kw, tc.top, tc.left, tc.right)
			for _, k := range gemm.Kernels() {
				if err := gemm.SetKernel(k); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, len(want))
				ran := weightGradBatched(NewTape(), got, x, dy, tc.kh, tc.kw, tc.top, tc.left, nil, 0)
				if ran != gemm.FastOrder() {
					t.Fatalf("%s: weightGradBatched ran %v, gemm.FastOrder() is %v", k, ran, gemm.FastOrder())
				}
				if !ran {
					continue
				}
				// The forward pass's im2col matrix, where it makes one, gives
				// the same bits as the one weightGradBatched builds.
				w := Normal(r, 1, tc.o, tc.c, tc.kh, tc.kw)
				_, col, ld := nn.Conv2dPadCol(x, w, nil, 1, tc.top, tc.top, tc.left, tc.right, func(n int) []float32 { return make([]float32, n) })
				if col != nil {
					kept := make([]float32, len(want))
					weightGradBatched(NewTape(), kept, x, dy, tc.kh, tc.kw, tc.top, tc.left, col, ld)
					if !slices.Equal(kept, got) {
						t.Errorf("%s: the kernel gradient from the forward pass's im2col matrix differs from the rebuilt one's", k)
					}
				} else if tc.o == 40 {
					t.Errorf("%s: Conv2dPadCol kept no im2col matrix for %s", k, tc.name)
				}
				var maxAbs, maxRel float64
				for i := range want {
					d := math.Abs(float64(got[i] - want[i]))
					maxAbs = max(maxAbs, d)
					maxRel = max(maxRel, d/max(1, math.Abs(float64(want[i]))))
				}
				if maxRel > 1e-5 {
					t.Errorf("%s: max abs error %g, max rel %g (of max(1, |want|))", k, maxAbs, maxRel)
				}
			}
		})
	}
}

// nn.GEGLUGrad, GEGLU's backward pass, adds dy·gelu(v) and dy·val·geluGrad(v)
// with their bits exactly, on every path (its AVX2 kernel and the Go loop),
// gates beyond exp32's polynomial range included.
func TestGEGLUGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 100003
	val, gate, dy := make([]float32, n), make([]float32, n), make([]float32, n)
	dval, dgate := make([]float32, n), make([]float32, n)
	for i := range n {
		gate[i] = float32(r.NormFloat64() * 4)
		if i < 7 {
			gate[i] = []float32{0, float32(math.Copysign(0, -1)), 1e-30, -9, 9, -14, 20}[i]
		}
		val[i], dy[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		dval[i], dgate[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	gotVal, gotGate := slices.Clone(dval), slices.Clone(dgate)
	nn.GEGLUGrad(gotVal, gotGate, val, gate, dy)
	for i, v := range gate {
		wantVal := dval[i] + dy[i]*gelu(v)
		wantGate := dgate[i] + dy[i]*val[i]*geluGrad(v)
		if math.Float32bits(gotVal[i]) != math.Float32bits(wantVal) || math.Float32bits(gotGate[i]) != math.Float32bits(wantGate) {
			t.Fatalf("GEGLUGrad at gate %g: %g, %g; gelu, geluGrad give %g, %g", v, gotVal[i], gotGate[i], wantVal, wantGate)
		}
	}
}
