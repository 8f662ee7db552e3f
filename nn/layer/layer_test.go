package layer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

func random(r *rand.Rand, shape ...int) *nn.Tensor {
	t := nn.New(shape...)
	for i := range t.Data {
		t.Data[i] = 2*r.Float32() - 1
	}
	return t
}

// maxDiff is the largest |a − b| over every element.
func maxDiff(a, b *nn.Tensor) float64 {
	var m float64
	for i, v := range a.Data {
		m = max(m, math.Abs(float64(v)-float64(b.Data[i])))
	}
	return m
}

// TestFused checks the fused forwards against the operations they fuse, at
// sizes that take the fused kernels (images of more than 2·out pixels) and
// sizes that fall back, with float32 and half-precision weights.
func TestFused(t *testing.T) {
	for _, tc := range []struct{ in, out, size, stride int }{
		{8, 8, 16, 1}, {8, 16, 4, 1}, {16, 8, 12, 2},
	} {
		for _, half := range []bool{false, true} {
			r := rand.New(rand.NewPCG(1, 2))
			g := GroupNorm{Weight: random(r, tc.in), Bias: random(r, tc.in), Groups: 4, Eps: 1e-6}
			c := Conv2d{Weight: random(r, tc.out, tc.in, 3, 3), Bias: random(r, tc.out), Stride: tc.stride, Pad: 1}
			if half {
				c.Weight.ToHalf()
			}
			x := random(r, 2, tc.in, tc.size, tc.size)
			x0 := x.Clone()
			name := fmt.Sprintf("%+v half=%v", tc, half)

			want := c.Forward(nn.SiLU(g.Forward(x)))
			if d := maxDiff(c.ForwardNormSiLU(g, x), want); d > 1e-5 {
				t.Errorf("%s: ForwardNormSiLU differs by %g", name, d)
			}
			if d := maxDiff(g.ForwardSiLU(x), nn.SiLU(g.Forward(x))); d != 0 {
				t.Errorf("%s: ForwardSiLU differs by %g", name, d)
			}
			if d := maxDiff(x, x0); d != 0 {
				t.Errorf("%s: x changed by %g", name, d)
			}
			if d := maxDiff(g.ForwardSiLUInPlace(x.Clone()), g.ForwardSiLU(x)); d != 0 {
				t.Errorf("%s: ForwardSiLUInPlace differs by %g", name, d)
			}
			if d := maxDiff(c.ForwardUpsample2x(x), c.Forward(nn.UpsampleNearest2x(x))); d > 1e-5 {
				t.Errorf("%s: ForwardUpsample2x differs by %g", name, d)
			}
		}
	}
}
