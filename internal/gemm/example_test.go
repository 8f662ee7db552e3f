package gemm_test

import (
	"fmt"

	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/x448/float16"
)

// A linear layer y = x·Wᵀ: x holds 2 inputs of 3 features, W maps 3 features
// to 2 outputs and is stored (out, in), so B is transposed.
func ExampleSgemm() {
	x := []float32{ // (2, 3)
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // (2, 3)
		1, 0, 1,
		0, 1, 0,
	}
	y := make([]float32, 2*2)                                // (2, 2)
	gemm.Sgemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2) // (2, 3)·(3, 2) -> (2, 2)
	fmt.Println(y)
	// Output: [4 2 10 5]
}

// The same layer with its weight kept in half precision.
func ExampleSgemmF16B() {
	x := []float32{ // (2, 3)
		1, 2, 3,
		4, 5, 6,
	}
	w := make([]uint16, 2*3) // (2, 3)
	for i, v := range []float32{1, 0, 1, 0, 1, 0} {
		w[i] = float16.Fromfloat32(v).Bits()
	}
	y := make([]float32, 2*2)                                    // (2, 2)
	gemm.SgemmF16B(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2) // (2, 3)·(3, 2) -> (2, 2)
	fmt.Println(y)
	// Output: [4 2 10 5]
}
