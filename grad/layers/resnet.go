package layers

import "github.com/sdgo/sdgo/grad"

// ResnetBlock2D is diffusers' ResnetBlock2D: a residual block, conditioned on
// the timestep in the U-Net (as unet.ResnetBlock2D),
//
//	h   = conv1(SiLU(norm1(x))) + time_emb_proj(SiLU(emb))   per channel
//	out = conv2(SiLU(norm2(h))) + shortcut(x)
//
// and without the time_emb_proj term in the VAE (temb_channels=None, as
// vae.Resnet). shortcut is a 1×1 conv when the channel count changes, else
// identity.
type ResnetBlock2D struct {
	Norm1        GroupNorm // norm1: (In)
	Conv1        Conv2d    // conv1: (Out, In, 3, 3)
	TimeEmbProj  *Linear   // time_emb_proj: (Out, TembDim), nil without a timestep embedding
	Norm2        GroupNorm // norm2: (Out)
	Conv2        Conv2d    // conv2: (Out, Out, 3, 3)
	ConvShortcut *Conv2d   // conv_shortcut: (Out, In, 1, 1), nil when In == Out
}

// NewResnetBlock2D creates a block from in to out channels, taking a
// timestep embedding of tembDim values (0: none, as in the VAE), with
// GroupNorms of groups groups.
func NewResnetBlock2D(b Builder, in, out, tembDim, groups int, eps float32) *ResnetBlock2D {
	r := &ResnetBlock2D{
		Norm1: NewGroupNorm(b.Sub("norm1"), in, groups, eps),
		Conv1: NewConv2d(b.Sub("conv1"), in, out, 3, 1, 1),
	}
	if tembDim > 0 {
		p := NewLinear(b.Sub("time_emb_proj"), tembDim, out, true)
		r.TimeEmbProj = &p
	}
	r.Norm2 = NewGroupNorm(b.Sub("norm2"), out, groups, eps)
	r.Conv2 = NewConv2d(b.Sub("conv2"), out, out, 3, 1, 1)
	if in != out {
		sc := NewConv2d(b.Sub("conv_shortcut"), in, out, 1, 1, 0)
		r.ConvShortcut = &sc
	}
	return r
}

// Forward applies the block to x (B, In, H, W) -> (B, Out, H, W). embAct is
// the timestep embedding after its SiLU, (B, TembDim): every resnet applies
// SiLU to the same embedding, so the model does it once. A block without
// TimeEmbProj ignores embAct, which may be nil.
func (r *ResnetBlock2D) Forward(tp *grad.Tape, x, embAct *grad.Var) *grad.Var {
	h := tp.SiLU(r.Norm1.Forward(tp, x)) // (B, In, H, W)
	h = r.Conv1.Forward(tp, h)           // (B, In, H, W) -> (B, Out, H, W)

	if r.TimeEmbProj != nil {
		t := r.TimeEmbProj.Forward(tp, embAct) // (B, TembDim) -> (B, Out)
		h = tp.AddNC(h, t)                     // h[b, c, :, :] += t[b, c]
	}

	h = tp.SiLU(r.Norm2.Forward(tp, h)) // (B, Out, H, W); dropout 0, as SD trains
	h = r.Conv2.Forward(tp, h)

	if r.ConvShortcut != nil {
		x = r.ConvShortcut.Forward(tp, x) // (B, In, H, W) -> (B, Out, H, W)
	}
	return tp.Add(h, x)
}
