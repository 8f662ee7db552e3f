package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFastMath sweeps the float32 exp, erf, sigmoid and tanh over a dense grid
// and compares them with package math in float64.
func TestFastMath(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      func(float32) float32
		ref    func(float64) float64
		lo, hi float32
		rel    bool    // relative error (else absolute)
		tol    float64 // bound on the error
	}{
		{"exp", Exp32, math.Exp, -86, 87, true, 3e-7},
		{"sigmoid", Sigmoid32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -80, 80, true, 5e-7},
		{"erf", Erf32, math.Erf, -6, 6, false, 5e-7},
		{"tanh", tanh32, math.Tanh, -20, 20, false, 3e-7},
	} {
		var worst float64
		var at float32
		for i := 0; i <= 1<<20; i++ {
			x := tc.lo + (tc.hi-tc.lo)*float32(i)/(1<<20)
			want := tc.ref(float64(x))
			d := math.Abs(float64(tc.f(x)) - want)
			if tc.rel {
				d /= math.Abs(want)
			}
			if d > worst || math.IsNaN(d) {
				worst, at = d, x
			}
		}
		t.Logf("%s: max error %.3g at %g", tc.name, worst, at)
		if worst > tc.tol || math.IsNaN(worst) {
			t.Errorf("%s: max error %.3g at %g > %.1g", tc.name, worst, at, tc.tol)
		}
	}
	for _, x := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 100, -100, 0} {
		if got, want := exp32(x), float32(math.Exp(float64(x))); got != want {
			t.Errorf("exp32(%g) = %g, want %g", x, got, want)
		}
	}
	if v := exp32(float32(math.NaN())); !math.IsNaN(float64(v)) {
		t.Errorf("exp32(NaN) = %g", v)
	}
}

// TestSIMD checks the vector loops of simd.go against float64 references, on
// lengths around the vector width and on special values.
func TestSIMD(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	inf := float32(math.Inf(1))
	special := []float32{-inf, -200, -100, -88, -87.5, -87.3, -30, -1e-3, 0, 1e-3, 30, 87, 87.9, 88.5, 100}
	for _, n := range []int{1, 7, 8, 9, 16, 17, 24, 31, 32, 33, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 30)
			if r.IntN(4) == 0 {
				x[i] = special[r.IntN(len(special))]
			}
		}
		// maxOf
		want := math.Inf(-1)
		for _, v := range x {
			want = max(want, float64(v))
		}
		if got := MaxOf(x); float64(got) != want {
			t.Errorf("MaxOf(%d values) = %g, want %g", n, got, want)
		}
		// expSub, as softmax calls it (every v − m ≤ 0) and beyond
		for _, m := range []float32{float32(want), 0, -50} {
			row := append([]float32(nil), x...)
			sum := ExpSub(row, m)
			var wantSum float64
			for i, v := range x {
				d := float64(v - m) // the difference rounds to float32 first
				if hasAVX2 && i < n&^7 || useAVX512 && i < n&^15 {
					d = min(d, 88) // the kernels clamp there
				}
				e := math.Exp(d)
				if e > math.MaxFloat32 {
					e = math.Inf(1)
				}
				wantSum += e
				if d := math.Abs(float64(row[i]) - e); d > 4e-7*e+1e-37 || math.IsNaN(float64(row[i])) {
					t.Errorf("expSub: e^(%g−%g) = %g, want %g", v, m, row[i], e)
				}
			}
			if d := math.Abs(float64(sum) - wantSum); d > 1e-6*wantSum && wantSum < math.MaxFloat32 {
				t.Errorf("expSub(%d values): sum %g, want %g", n, sum, wantSum)
			}
		}
		if got := MaxOf(x[:0]); !math.IsInf(float64(got), -1) {
			t.Errorf("MaxOf(no values) = %g, want -Inf", got)
		}
		// geluSlice and geglu
		gelu64 := func(g float64) float64 { return 0.5 * g * (1 + math.Erf(g/math.Sqrt2)) }
		dst := make([]float32, n)
		geluSlice(dst, x)
		for i, v := range x {
			if w := gelu64(float64(v)); math.Abs(float64(dst[i])-w) > 1e-6*max(1, math.Abs(w)) {
				t.Errorf("geluSlice(%g) = %g, want %g", v, dst[i], w)
			}
		}
		val := make([]float32, n)
		for i := range val {
			val[i] = float32(r.NormFloat64())
		}
		geglu(dst, val, x)
		for i, v := range x {
			// GELU's own error (float32 cancellation in 1 + erf for x ≪ 0) scales with val.
			if w := float64(val[i]) * gelu64(float64(v)); math.Abs(float64(dst[i])-w) > 1e-6*max(1, math.Abs(w), math.Abs(float64(val[i]))) {
				t.Errorf("geglu(%g, %g) = %g, want %g", val[i], v, dst[i], w)
			}
		}
		// sums and affine
		var s64, sq64 float64
		for _, v := range x {
			s64 += float64(v)
			sq64 += (float64(v) - 3) * (float64(v) - 3)
		}
		if s, sq := sums(x, 3); math.Abs(float64(s)-s64) > 1e-5*sq64 || math.Abs(float64(sq)-sq64) > 1e-5*sq64 {
			t.Errorf("sums(%d values) = %g, %g; want %g, %g", n, s, sq, s64, sq64)
		}
		affine(dst, x, 0.5, 0.25)
		for i, v := range x {
			if w := float64(v)*0.5 + 0.25; math.Abs(float64(dst[i])-w) > 1e-7*max(1, math.Abs(w)) {
				t.Errorf("affine(%g) = %g, want %g", v, dst[i], w)
			}
		}
		// siluAffine
		siluAffine(dst, x, 0.5, 0.25)
		for i, v := range x {
			o := float64(v*0.5 + 0.25)
			w := o / (1 + math.Exp(-o))
			if d := math.Abs(float64(dst[i]) - w); d > 4e-7*max(1, math.Abs(w)) {
				t.Errorf("siluAffine(%g) = %g, want %g", v, dst[i], w)
			}
		}
	}
}

// The backward loops' AVX2 kernels (SiLUGrad, QuickGELUGrad), QuickGELU's
// and AddTo's give their Go loops' bits on every input, the values outside
// the exponential's polynomial range included, and the loops are the
// derivatives to float32 rounding.
func TestExactLoops(t *testing.T) {
	sigmoid := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for _, tc := range []struct {
		name      string
		simd, ref func(dx, dy, x []float32)
		deriv     func(v float64) float64 // nil: a forward loop (dx = f(x))
	}{
		{"SiLUGrad", SiLUGrad, siluGradGo, func(v float64) float64 { s := sigmoid(v); return s * (1 + v*(1-s)) }},
		{"QuickGELUGrad", QuickGELUGrad, quickGELUGradGo, func(v float64) float64 {
			s := sigmoid(1.702 * v)
			return s + 1.702*v*s*(1-s)
		}},
		{"QuickGELU", func(dx, _, x []float32) { quickGELU(dx, x) }, func(dx, _, x []float32) { quickGELUGo(dx, x) }, nil},
		{"AddTo", func(dx, dy, _ []float32) { AddTo(dx, dy) }, func(dx, dy, _ []float32) {
			for i, v := range dy {
				dx[i] += v
			}
		}, nil},
	} {
		r := rand.New(rand.NewPCG(23, 24))
		inf := float32(math.Inf(1))
		special := []float32{-inf, -200, -88.5, -88, -87.5, -87, -86.9, -52, -51, -30, -1e-3, 0, float32(math.Copysign(0, -1)), 1e-3, 30, 51, 52, 86.9, 87, 87.5, 88, 100, inf}
		for _, n := range []int{1, 7, 8, 9, 16, 17, 24, 31, 32, 33, 1000} {
			x, dy, dx := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 4)
				if r.IntN(8) == 0 {
					x[i] = special[r.IntN(len(special))]
				}
				dy[i] = float32(r.NormFloat64())
				dx[i] = float32(r.NormFloat64())
			}
			got, want := slices.Clone(dx), slices.Clone(dx)
			tc.simd(got, dy, x)
			tc.ref(want, dy, x)
			for i := range x {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Errorf("%s, n %d, at x = %g: %g (%#x), the Go loop %g (%#x)", tc.name, n, x[i], got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
				if v := float64(x[i]); tc.deriv != nil && math.Abs(v) < 40 {
					d := float64(dx[i]) + float64(dy[i])*tc.deriv(v)
					if e := math.Abs(float64(want[i]) - d); e > 1e-6*(math.Abs(d)+math.Abs(float64(dx[i]))+math.Abs(float64(dy[i]))) {
						t.Errorf("%s at x = %g: %g, float64 %g", tc.name, x[i], want[i], d)
					}
				}
			}
		}
	}
}
