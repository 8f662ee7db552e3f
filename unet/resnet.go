package unet

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// ResnetBlock2D is a residual block conditioned on the timestep (diffusers'
// ResnetBlock2D; LDM "ResBlock" with in_layers/emb_layers/out_layers):
//
//	h   = conv1(SiLU(norm1(x))) + time_emb_proj(SiLU(emb))   per channel
//	out = shortcut(x) + conv2(SiLU(norm2(h)))
//
// where shortcut is a 1×1 conv when the channel count changes, else identity.
type ResnetBlock2D struct {
	Norm1        layer.GroupNorm // norm1: (In)
	Conv1        layer.Conv2d    // conv1: (Out, In, 3, 3)
	TimeEmbProj  layer.Linear    // time_emb_proj: (Out, 4·C0)
	Norm2        layer.GroupNorm // norm2: (Out)
	Conv2        layer.Conv2d    // conv2: (Out, Out, 3, 3)
	ConvShortcut *layer.Conv2d   // conv_shortcut: (Out, In, 1, 1), nil when In == Out
}

func loadResnet(ld *weights.Loader, cfg Config, in, out int) *ResnetBlock2D {
	r := &ResnetBlock2D{
		Norm1:       layer.NewGroupNorm(ld.Sub("norm1"), in, cfg.NormNumGroups, cfg.NormEps),
		Conv1:       layer.NewConv2d(ld.Sub("conv1"), in, out, 3, 1, 1),
		TimeEmbProj: layer.NewLinear(ld.Sub("time_emb_proj"), cfg.TimeEmbedDim(), out, true),
		Norm2:       layer.NewGroupNorm(ld.Sub("norm2"), out, cfg.NormNumGroups, cfg.NormEps),
		Conv2:       layer.NewConv2d(ld.Sub("conv2"), out, out, 3, 1, 1),
	}
	if in != out {
		sc := layer.NewConv2d(ld.Sub("conv_shortcut"), in, out, 1, 1, 0)
		r.ConvShortcut = &sc
	}
	return r
}

// Forward applies the block to x (B, In, H, W) -> (B, Out, H, W). embAct is
// the timestep embedding after its SiLU, (B, 4·C0): every resnet applies
// SiLU to the same embedding, so the model does it once.
func (r *ResnetBlock2D) Forward(x, embAct *nn.Tensor) *nn.Tensor {
	h := r.Conv1.ForwardNormSiLU(r.Norm1, x) // conv1(SiLU(norm1(x))): (B, In, H, W) -> (B, Out, H, W)

	t := r.TimeEmbProj.Forward(embAct) // (B, 4·C0) -> (B, Out)
	addPerChannel(h, t)                // h[b, c, :, :] += t[b, c]

	h = r.Conv2.ForwardNormSiLU(r.Norm2, h) // conv2(SiLU(norm2(h))); dropout is off at inference

	if r.ConvShortcut != nil {
		x = r.ConvShortcut.Forward(x) // (B, In, H, W) -> (B, Out, H, W)
	}
	return nn.AddInPlace(h, x)
}

// addPerChannel adds v (B, C) to every pixel of x (B, C, H, W), in place.
func addPerChannel(x, v *nn.Tensor) {
	bc := x.Shape[0] * x.Shape[1]
	plane := len(x.Data) / bc
	nn.Parallel(bc, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p, a := x.Data[i*plane:(i+1)*plane], v.Data[i]
			for j := range p {
				p[j] += a
			}
		}
	})
}
