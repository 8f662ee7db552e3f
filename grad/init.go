package grad

import (
	"math/rand/v2"

	"github.com/sdgo/sdgo/nn"
)

// Uniform returns a tensor of values drawn uniformly from [−bound, bound).
// With bound = 1/√fan_in (fan_in = in or C·KH·KW) it is PyTorch's default
// initialisation of Linear and Conv2d weights and biases.
func Uniform(r *rand.Rand, bound float32, shape ...int) *nn.Tensor {
	t := nn.New(shape...)
	for i := range t.Data {
		t.Data[i] = (2*r.Float32() - 1) * bound
	}
	return t
}

// Normal returns a tensor of values drawn from N(0, std²) (embeddings are
// initialised so).
func Normal(r *rand.Rand, std float32, shape ...int) *nn.Tensor {
	t := nn.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64()) * std
	}
	return t
}

// Full returns a tensor with every value v (norm weights start at 1, biases at 0).
func Full(v float32, shape ...int) *nn.Tensor {
	t := nn.New(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}
