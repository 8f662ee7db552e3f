package clip

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// LayerNorm normalises each token's feature vector to zero mean and unit
// variance, then scales and shifts it per feature (checkpoint names: weight,
// bias).
type LayerNorm struct {
	Weight *nn.Tensor // (D)
	Bias   *nn.Tensor // (D)
	Eps    float32
}

func loadLayerNorm(ld *weights.Loader, cfg Config) LayerNorm {
	return LayerNorm{
		Weight: ld.Tensor("weight", cfg.Width),
		Bias:   ld.Tensor("bias", cfg.Width),
		Eps:    cfg.LayerNormEps,
	}
}

// Forward returns the normalised copy of x: (…, D) -> (…, D).
func (n LayerNorm) Forward(x *nn.Tensor) *nn.Tensor {
	return nn.LayerNorm(x, n.Weight, n.Bias, n.Eps)
}
