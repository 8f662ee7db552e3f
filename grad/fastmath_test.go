package grad

import (
	"math"
	"testing"
)

// TestExp32 compares exp32 with math.Exp over [-87, 88] in ulps of the
// float32 result.
func TestExp32(t *testing.T) {
	var worst float64
	var at float32
	for i := 0; i <= 1_000_000; i++ {
		x := float32(-87 + 175*float64(i)/1e6)
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1))) - float32(want))
		if e := math.Abs(got-want) / ulp; e > worst {
			worst, at = e, x
		}
	}
	t.Logf("max error %.2f ulp at x = %g", worst, at)
	if worst > 2 {
		t.Errorf("max error %.2f ulp at x = %g, want ≤ 2", worst, at)
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {100, float32(math.Inf(1))},
	} {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := exp32(float32(math.NaN())); got == got {
		t.Errorf("exp32(NaN) = %g, want NaN", got)
	}
}

// TestErf32 compares erf32 with math.Erf in absolute terms (erf is bounded
// by 1, so absolute error is what GELU sees).
func TestErf32(t *testing.T) {
	var worst float64
	for i := 0; i <= 200_000; i++ {
		x := -6 + 12*float64(i)/200_000
		worst = max(worst, math.Abs(float64(erf32(float32(x)))-math.Erf(x)))
	}
	t.Logf("max abs error %.2e", worst)
	if worst > 1e-6 {
		t.Errorf("max abs error %.2e, want ≤ 1e-6", worst)
	}
}

func BenchmarkExp32(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += exp32(v)
		}
	}
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += float32(math.Exp(float64(v)))
		}
	}
	_ = s
}

func BenchmarkExpScaled(b *testing.B) {
	x := make([]float32, 4096)
	for b.Loop() {
		expScaled(x, 1, 0.5)
	}
}
