package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// toHalf equals float16.Fromfloat32 on edge cases and random bit patterns.
func TestToHalf(t *testing.T) {
	check := func(f float32) {
		got, want := toHalf(f), float16.Fromfloat32(f).Bits()
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("toHalf(NaN %#x) = %#x, not a NaN", math.Float32bits(f), got)
			}
			return
		}
		if got != want {
			t.Fatalf("toHalf(%g = %#x) = %#x, want %#x", f, math.Float32bits(f), got, want)
		}
	}
	for _, f := range []float32{0, 1, -1, 65504, 65519.99, 65520, 65536, 1e-8, 5.96e-8, 2.98e-8, 6.1e-5, 6.09e-5, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		check(f)
		check(-f)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		check(math.Float32frombits(r.Uint32()))
	}
}
