package rng_test

import (
	"fmt"

	"github.com/sdgo/sdgo/rng"
)

// The first latents of torch.manual_seed(42); torch.randn(1, 4, 64, 64), as
// diffusers draws them with a CPU generator.
func ExampleNewTorchCPU() {
	latents := make([]float32, 1*4*64*64) // (B, C, H/8, W/8)
	rng.NewTorchCPU(42).Normal(latents)
	fmt.Println(latents[:4])
	// Output: [1.9269153 1.4872841 0.9007172 -2.105521]
}

// The same seed on the CUDA generator, as AUTOMATIC1111's "GPU" seed and
// stable-diffusion.cpp's cuda RNG draw it; a second call continues the
// stream.
func ExampleNewPhilox() {
	g := rng.NewPhilox(42)
	latents := make([]float32, 1*4*64*64)
	g.Normal(latents)
	fmt.Printf("%.4f\n", latents[:4])
	g.Normal(latents)
	fmt.Println("offset after two calls:", g.Offset())
	// Output:
	// [0.1940 2.1614 -0.1721 0.8491]
	// offset after two calls: 8
}

// torch.rand: uniform in [0, 1).
func ExampleTorchCPU_Uniform() {
	u := make([]float32, 3)
	rng.NewTorchCPU(42).Uniform(u)
	fmt.Println(u)
	// Output: [0.88226926 0.91500396 0.38286376]
}
