package nn

import (
	"math"
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
		{"exp", exp32, math.Exp, -86, 87, true, 3e-7},
		{"sigmoid", sigmoid32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -80, 80, true, 5e-7},
		{"erf", erf32, math.Erf, -6, 6, false, 5e-7},
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
