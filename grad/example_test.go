package grad_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
)

// The gradient of mean(x²) is 2x/n.
func ExampleTape_Backward() {
	x := grad.Param(nn.From([]float32{1, 2, 3}, 3))
	tp := grad.NewTape()
	loss := tp.Mean(tp.Mul(x, x))
	tp.Backward(loss)
	fmt.Printf("loss %.4f, grad %.4f\n", loss.Value.Data[0], x.Grad.Data)
	// Output: loss 4.6667, grad [0.6667 1.3333 2.0000]
}

// A training loop: fit y = 2x + 1 with a one-unit linear layer.
func Example() {
	ps := grad.NewParams()
	w := ps.Add("proj.weight", nn.New(1, 1)) // (out, in), as torch.nn.Linear
	b := ps.Add("proj.bias", nn.New(1))
	opt := grad.NewAdamW(ps, 0.05)
	opt.WeightDecay = 0

	r := rand.New(rand.NewPCG(1, 2))
	x, y := nn.New(32, 1), nn.New(32, 1)
	tp := grad.NewTape()
	for range 1000 {
		for i := range x.Data {
			x.Data[i] = 2*r.Float32() - 1
			y.Data[i] = 2*x.Data[i] + 1
		}
		tp.Reset()
		loss := tp.MSE(tp.Linear(grad.Const(x), w, b), grad.Const(y))
		ps.ZeroGrad()
		tp.Backward(loss)
		opt.Step()
	}
	fmt.Printf("w %.2f, b %.2f\n", w.Value.Data[0], b.Value.Data[0])
	// Output: w 2.00, b 1.00
}
