package layer_test

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
)

// A ResNet block's first half, GroupNorm → SiLU → conv, in one call that
// never holds the normalised tensor.
func ExampleConv2d_ForwardNormSiLU() {
	norm := layer.GroupNorm{Weight: nn.From([]float32{1, 1}, 2), Bias: nn.New(2), Groups: 1, Eps: 1e-6}
	conv := layer.Conv2d{Weight: nn.From([]float32{1, 1}, 1, 2, 1, 1), Bias: nn.New(1), Stride: 1}
	x := nn.From([]float32{-1, 1, -1, 1}, 1, 2, 1, 2) // (B, C, H, W) = (1, 2, 1, 2)
	y := conv.ForwardNormSiLU(norm, x)                // (1, 2, 1, 2) -> (1, 1, 1, 2)
	fmt.Printf("%v %.4f\n", y.Shape, y.Data)
	// Output: [1 1 1 2] [-0.5379 1.4621]
}
