package clip

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Linear is a fully connected layer y = x·Wᵀ + b, stored as PyTorch stores
// it (checkpoint names: weight, bias).
type Linear struct {
	Weight *nn.Tensor // (out, in)
	Bias   *nn.Tensor // (out)
}

func loadLinear(ld *weights.Loader, out, in int) Linear {
	return Linear{
		Weight: ld.Tensor("weight", out, in),
		Bias:   ld.Tensor("bias", out),
	}
}

// Forward maps the last dimension of x: (…, in) -> (…, out).
func (l Linear) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.Linear(x, l.Weight, l.Bias)
}
