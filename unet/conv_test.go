package unet

import (
	"fmt"
	"math"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
)

// convHalf computes what nn.Conv2d computes with the same half-precision
// weights, up to the order of the additions.
func TestConvHalf(t *testing.T) {
	defer func(b int) { colBudget = b }(colBudget)
	for _, tc := range []struct {
		n, c, h, w, o, k, stride, pad int
		budget                        int
	}{
		{2, 8, 6, 7, 12, 3, 1, 1, 4 << 20},       // one band
		{2, 8, 6, 7, 12, 3, 1, 1, 8 * 9 * 7 * 2}, // bands of 2 rows
		{1, 5, 9, 8, 4, 3, 2, 1, 4 << 20},        // stride 2 (downsampler)
		{2, 6, 5, 5, 3, 1, 1, 0, 4 << 20},        // 1×1 (shortcut): the input is the matrix
		{1, 3, 1, 1, 2, 3, 1, 1, 4 << 20},        // 1×1 image, all taps but one in the padding
	} {
		t.Run(fmt.Sprintf("%v", tc), func(t *testing.T) {
			colBudget = tc.budget
			x := nn.New(tc.n, tc.c, tc.h, tc.w)
			fillUniform(x.Data, 1, 1)
			c := layer.Conv2d{Weight: nn.New(tc.o, tc.c, tc.k, tc.k), Bias: nn.New(tc.o), Stride: tc.stride, Pad: tc.pad}
			fillUniform(c.Weight.Data, 1, 2)
			fillUniform(c.Bias.Data, 1, 3)
			c.Weight.ToHalf()
			want := c.Forward(x)
			oh, ow := want.Shape[2], want.Shape[3]
			got := convHalf(c, x, oh, ow)
			if !nn.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
			}
			var worst float64
			for i, v := range want.Data {
				worst = max(worst, math.Abs(float64(got.Data[i]-v)))
			}
			if worst > 1e-5 {
				t.Errorf("max |Δ| %.3g against nn.Conv2d", worst)
			}
		})
	}
}
