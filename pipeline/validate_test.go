package pipeline

import (
	"context"
	"math"
	"strings"
	"testing"
)

// The library refuses what the command refuses: a server passing NaN
// guidance or a wild prompt weight gets an error, not an image.
func TestOptionsNumbers(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{CFGScale: math.NaN()}, "cfg scale must be a finite number"},
		{Options{CFGScale: 1e39}, "cfg scale must be in [0, 100]"},
		{Options{CFGScale: math.Inf(-1)}, "cfg scale must be a finite number"},
		{Options{Prompt: "a (b:11) c"}, `prompt: the weight of "b" must be in [-10, 10], got 11`},
		{Options{Prompt: "((((((((((((((((((((((((((((b))))))))))))))))))))))))))))"}, `the weight of "b" must be in [-10, 10]`},
		{Options{NegativePrompt: "(b:-20)"}, "negative prompt: the weight"},
	} {
		tc.o.Width, tc.o.Height, tc.o.Steps = 32, 32, 1
		_, err := m.Generate(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestRangeCheck(t *testing.T) {
	r := Range{0, 1, "why"}
	for _, v := range []float64{0, 0.5, 1} {
		if err := r.Check(v); err != nil {
			t.Errorf("%g: %v", v, err)
		}
	}
	for _, v := range []float64{-0.1, 1.1, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64} {
		if err := r.Check(v); err == nil {
			t.Errorf("%g accepted", v)
		}
	}
}
