package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Float64 references: the plain definitions, written for clarity, not speed.

func randTensor(r *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

// checkClose compares every element of got with want and fails when the
// error relative to max(1, max|want|) exceeds tol.
func checkClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxAbs, maxRef float64
	worst := 0
	for i, w := range want {
		maxRef = max(maxRef, math.Abs(w))
		if d := math.Abs(float64(got[i]) - w); d > maxAbs || math.IsNaN(d) {
			maxAbs, worst = d, i
		}
	}
	if rel := maxAbs / max(1, maxRef); rel > tol || math.IsNaN(maxAbs) {
		t.Errorf("%s: max |Δ| %.3g at %d (got %g, want %g), relative %.3g > %.1g", what, maxAbs, worst, got[worst], want[worst], rel, tol)
	}
}

func refConv(x, w, b *Tensor, stride, top, left, oh, ow int) []float64 {
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, kh, kw := w.Shape[0], w.Shape[2], w.Shape[3]
	out := make([]float64, n*o*oh*ow)
	for bi := 0; bi < n; bi++ {
		for oc := 0; oc < o; oc++ {
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					s := 0.0
					if b != nil {
						s = float64(b.Data[oc])
					}
					for ci := 0; ci < c; ci++ {
						for i := 0; i < kh; i++ {
							for j := 0; j < kw; j++ {
								iy, ix := y*stride+i-top, xx*stride+j-left
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.Data[((bi*c+ci)*h+iy)*wd+ix]) * float64(w.Data[((oc*c+ci)*kh+i)*kw+j])
							}
						}
					}
					out[((bi*o+oc)*oh+y)*ow+xx] = s
				}
			}
		}
	}
	return out
}

func TestConv2d(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		n, c, h, w, o, k, stride, pad int
		bias                          bool
	}{
		{1, 1, 1, 1, 1, 1, 1, 0, false},
		{2, 3, 7, 5, 4, 3, 1, 1, true},
		{1, 5, 11, 13, 7, 3, 2, 1, true},
		{2, 7, 6, 6, 3, 1, 1, 0, true},
		{1, 3, 9, 9, 2, 1, 2, 0, false},
		{1, 2, 5, 8, 3, 5, 1, 2, true},
		{1, 4, 17, 3, 6, 3, 1, 0, true},
		{2, 3, 5, 4, 40, 3, 1, 1, true}, // small images: one product for the batch
		{3, 4, 8, 8, 6, 3, 2, 1, false}, // the same, strided
	} {
		x := randTensor(r, tc.n, tc.c, tc.h, tc.w)
		w := randTensor(r, tc.o, tc.c, tc.k, tc.k)
		var b *Tensor
		if tc.bias {
			b = randTensor(r, tc.o)
		}
		y := Conv2d(x, w, b, tc.stride, tc.pad)
		oh, ow := y.Shape[2], y.Shape[3]
		checkClose(t, "conv", y.Data, refConv(x, w, b, tc.stride, tc.pad, tc.pad, oh, ow), 1e-5)
	}
	// Several bands of output rows, in both the im2col and the shifted path.
	defer func(b int) { colBudget = b }(colBudget)
	colBudget = 200
	for _, tc := range []struct{ c, o, stride int }{{3, 4, 1}, {3, 40, 1}, {3, 4, 2}} {
		x := randTensor(r, 2, tc.c, 9, 6)
		w := randTensor(r, tc.o, tc.c, 3, 3)
		b := randTensor(r, tc.o)
		y := Conv2d(x, w, b, tc.stride, 1)
		checkClose(t, "conv bands", y.Data, refConv(x, w, b, tc.stride, 1, 1, y.Shape[2], y.Shape[3]), 1e-5)
	}
	colBudget = 4 << 20
	// Asymmetric padding, as the VAE encoder's downsampler uses.
	x := randTensor(r, 1, 3, 8, 7)
	w := randTensor(r, 5, 3, 3, 3)
	y := Conv2dPad(x, w, nil, 2, 0, 1, 0, 1)
	checkClose(t, "conv asym", y.Data, refConv(x, w, nil, 2, 0, 0, y.Shape[2], y.Shape[3]), 1e-5)
}

func refAttention(q, k, v *Tensor, heads int, causal bool) []float64 {
	b, lq, dim := q.Shape[0], q.Shape[1], q.Shape[2]
	lk := k.Shape[1]
	dh := dim / heads
	out := make([]float64, b*lq*dim)
	for bi := 0; bi < b; bi++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < lq; i++ {
				s := make([]float64, lk)
				m := math.Inf(-1)
				for j := 0; j < lk; j++ {
					if causal && j > i {
						s[j] = math.Inf(-1)
						continue
					}
					d := 0.0
					for e := 0; e < dh; e++ {
						d += float64(q.Data[(bi*lq+i)*dim+h*dh+e]) * float64(k.Data[(bi*lk+j)*dim+h*dh+e])
					}
					s[j] = d / math.Sqrt(float64(dh))
					m = max(m, s[j])
				}
				z := 0.0
				for j := range s {
					s[j] = math.Exp(s[j] - m)
					z += s[j]
				}
				for e := 0; e < dh; e++ {
					acc := 0.0
					for j := 0; j < lk; j++ {
						acc += s[j] / z * float64(v.Data[(bi*lk+j)*dim+h*dh+e])
					}
					out[(bi*lq+i)*dim+h*dh+e] = acc
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		b, lq, lk, heads, dh int
		causal               bool
	}{
		{1, 1, 1, 1, 1, false},
		{2, 7, 7, 3, 5, true},
		{1, 77, 77, 4, 8, true},
		{2, 13, 77, 2, 3, false},
		{1, 300, 11, 5, 4, false},
		{1, 200, 1100, 2, 4, false}, // several key blocks
		{2, 700, 700, 1, 3, true},   // causal across key and query blocks
	} {
		dim := tc.heads * tc.dh
		q, k, v := randTensor(r, tc.b, tc.lq, dim), randTensor(r, tc.b, tc.lk, dim), randTensor(r, tc.b, tc.lk, dim)
		checkClose(t, "attention", Attention(q, k, v, tc.heads, tc.causal).Data, refAttention(q, k, v, tc.heads, tc.causal), 1e-5)
	}
}

// TestAttentionKeysSameBits checks that reading the keys transposed once
// (several blocks of queries) gives the bits of packing them per block.
func TestAttentionKeysSameBits(t *testing.T) {
	defer func() { attnTransposeKeys = true }()
	r := rand.New(rand.NewPCG(3, 5))
	for _, tc := range []struct{ b, lq, lk, heads, dh int }{{2, 300, 77, 2, 40}, {1, 200, 1100, 2, 8}, {1, 400, 512, 1, 16}} {
		dim := tc.heads * tc.dh
		q, k, v := randTensor(r, tc.b, tc.lq, dim), randTensor(r, tc.b, tc.lk, dim), randTensor(r, tc.b, tc.lk, dim)
		attnTransposeKeys = false
		want := Attention(q, k, v, tc.heads, false)
		attnTransposeKeys = true
		got := Attention(q, k, v, tc.heads, false)
		for i := range got.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("%+v: out[%d] = %v with the keys transposed once, %v packed per block", tc, i, got.Data[i], want.Data[i])
			}
		}
	}
}

func TestConv2dUpsample2x(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 3))
	for _, tc := range []struct {
		n, c, h, w, o, k, pad int
		budget                int // shiftBudget: small values force bands
	}{
		{2, 3, 5, 4, 4, 3, 1, 256 << 10},  // taps, one band
		{1, 4, 6, 7, 5, 3, 1, 40},         // several bands
		{2, 3, 2, 2, 40, 3, 1, 256 << 10}, // small image: upsample, then Conv2d
		{1, 2, 4, 3, 3, 1, 0, 256 << 10},  // 1×1
	} {
		x := randTensor(r, tc.n, tc.c, tc.h, tc.w)
		w, b := randTensor(r, tc.o, tc.c, tc.k, tc.k), randTensor(r, tc.o)
		up := UpsampleNearest2x(x)
		func() {
			defer func(v int) { shiftBudget = v }(shiftBudget)
			shiftBudget = tc.budget
			y := Conv2dUpsample2x(x, w, b, tc.pad)
			if want := Conv2d(up, w, b, 1, tc.pad); !SameShape(y.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", y.Shape, want.Shape)
			}
			checkClose(t, "conv upsample", y.Data, refConv(up, w, b, 1, tc.pad, tc.pad, y.Shape[2], y.Shape[3]), 1e-5)
		}()
	}
}

func TestGroupNormSiLUConv2d(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 3))
	for _, tc := range []struct {
		n, c, h, w, o, groups, budget int
	}{
		{2, 4, 8, 8, 3, 2, 256 << 10},  // taps, one band
		{1, 6, 9, 7, 4, 3, 30},         // several bands, odd sizes
		{2, 4, 3, 3, 40, 2, 256 << 10}, // small image: the unfused path
	} {
		x := randTensor(r, tc.n, tc.c, tc.h, tc.w)
		for i := range x.Data {
			x.Data[i] = 3*x.Data[i] + 1
		}
		gw, gb := randTensor(r, tc.c), randTensor(r, tc.c)
		w, b := randTensor(r, tc.o, tc.c, 3, 3), randTensor(r, tc.o)
		keep := x.Clone()
		func() {
			defer func(v int) { shiftBudget = v }(shiftBudget)
			shiftBudget = tc.budget
			y := GroupNormSiLUConv2d(x, tc.groups, gw, gb, 1e-5, w, b, 1)
			a := GroupNormSiLU(x, tc.groups, gw, gb, 1e-5)
			checkClose(t, "groupnorm+silu+conv", y.Data, refConv(a, w, b, 1, 1, 1, tc.h, tc.w), 1e-5)
		}()
		for i, v := range keep.Data {
			if x.Data[i] != v {
				t.Fatalf("GroupNormSiLUConv2d changed x[%d]", i)
			}
		}
	}
}
