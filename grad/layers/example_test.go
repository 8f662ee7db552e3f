package layers_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/grad/layers"
	"github.com/sdgo/sdgo/nn"
)

// A ResNet block of the U-Net's first level, built under its checkpoint
// name and run forward and backward once.
func ExampleResnetBlock2D() {
	params := grad.NewParams()
	b := layers.NewBuilder(params, rand.New(rand.NewPCG(1, 2)))
	temb := layers.NewTimestepEmbedding(b.Sub("time_embedding"), 32, 128)
	res := layers.NewResnetBlock2D(b.Sub("down_blocks.0.resnets.0"), 32, 64, 128, 8, 1e-5)

	tp := grad.NewTape()
	x := grad.Const(nn.New(2, 32, 8, 8))                                             // (B, C, H, W)
	proj := grad.Const(nn.TimestepEmbedding([]float32{10, 900}, 32, true, 0, 10000)) // (B, 32)
	h := res.Forward(tp, x, tp.SiLU(temb.Forward(tp, proj)))                         // (B, 32, 8, 8) -> (B, 64, 8, 8)
	tp.Backward(tp.MSE(h, grad.Const(nn.New(h.Shape()...))))
	fmt.Println(h.Shape(), len(params.Names()), "parameters,", params.Count(), "values")
	fmt.Println(params.Names()[len(params.Names())-2], params.Get("down_blocks.0.resnets.0.conv1.weight").Grad.Shape)
	// Output:
	// [2 64 8 8] 16 parameters, 86720 values
	// down_blocks.0.resnets.0.conv_shortcut.weight [64 32 3 3]
}
