package weights_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// An fp16 checkpoint's weight matrices can stay in half precision, read
// from the file's memory without a copy; the products give the same numbers.
func ExampleLoader_WithPrecision() {
	dir, err := os.MkdirTemp("", "sdgo-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "proj.safetensors")
	err = weights.Write(path, []weights.Entry{
		{Name: "proj.weight", DType: weights.F16, Shape: []int{2, 3}, Float: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "proj.bias", DType: weights.F16, Shape: []int{2}, Float: []float32{0.5, -0.5}},
	}, nil, false)
	if err != nil {
		log.Fatal(err)
	}
	f, err := weights.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close() // after the last use of the half-precision weights
	x := nn.From([]float32{1, 1, 1}, 1, 3)
	for _, p := range []weights.Precision{weights.KeepFloat32, weights.KeepStored} {
		ld := weights.NewLoader(f, "proj.").WithPrecision(p)
		w, b := ld.Tensor("weight", 2, 3), ld.Tensor("bias", 2) // a matrix and a vector
		fmt.Printf("%s: weight in half precision %v, bias %v, y = %v\n", p, w.Half != nil, b.Half != nil, nn.Linear(x, w, b).Data)
	}
	// Output:
	// fp32: weight in half precision false, bias false, y = [6.5 14.5]
	// stored: weight in half precision true, bias false, y = [6.5 14.5]
}
