package nn_test

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
)

// A linear layer, y = x·Wᵀ + b, as PyTorch stores its weight (out, in).
func ExampleLinear() {
	x := nn.From([]float32{1, 2, 3}, 1, 3)          // (1, 3)
	w := nn.From([]float32{1, 0, 0, 0, 1, 1}, 2, 3) // (2, 3)
	b := nn.From([]float32{10, 20}, 2)              // (2)
	fmt.Println(nn.Linear(x, w, b).Data)            // (1, 3) -> (1, 2)
	// Output: [11 25]
}

// A weight kept in half precision gives the same products in half the
// memory when its values are fp16 numbers, as an fp16 checkpoint's are.
func ExampleTensor_ToHalf() {
	x := nn.From([]float32{1, 2, 3}, 1, 3)
	w := nn.From([]float32{0.5, 0.25, -1, 2, 0, 0.125}, 2, 3)
	want := nn.Linear(x, w, nil).Data
	w.ToHalf() // w.Data is now nil, w.Half holds the fp16 bits
	fmt.Println(nn.Linear(x, w, nil).Data, want, len(w.Half))
	// Output: [-2 2.375] [-2 2.375] 6
}

// Attention of two queries over three keys, one head of width 2: each output
// row is an average of the value rows weighted by softmax(q·kᵀ/√2).
func ExampleAttention() {
	q := nn.From([]float32{1, 0, 0, 1}, 1, 2, 2)           // (B, Lq, H·Dh) = (1, 2, 2)
	k := nn.From([]float32{1, 0, 0, 1, 0, 0}, 1, 3, 2)     // (1, 3, 2)
	v := nn.From([]float32{1, 0, 0, 1, 0.5, 0.5}, 1, 3, 2) // (1, 3, 2)
	o := nn.Attention(q, k, v, 1, false)                   // (1, 2, 2)
	for _, x := range o.Data {
		fmt.Printf("%.4f ", x)
	}
	fmt.Println()
	// Output: 0.6276 0.3724 0.3724 0.6276
}
