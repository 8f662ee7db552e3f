package vae

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// MidBlock is the block at the lowest resolution of both the encoder and
// the decoder (diffusers' UNetMidBlock2D; LDM: mid.block_1, mid.attn_1,
// mid.block_2): resnet → attention → resnet, channels unchanged.
type MidBlock struct {
	Resnets    []*Resnet    // 2
	Attentions []*Attention // 1, or nil entries when the config turns attention off
}

func loadMid(ld *weights.Loader, ch int, cfg Config) *MidBlock {
	m := &MidBlock{
		Resnets:    []*Resnet{loadResnet(ld.Sub("resnets.0"), ch, ch, cfg.NormGroups)},
		Attentions: []*Attention{nil},
	}
	if cfg.MidAttention {
		m.Attentions[0] = loadAttention(ld.Sub("attentions.0"), ch, cfg.NormGroups)
	}
	m.Resnets = append(m.Resnets, loadResnet(ld.Sub("resnets.1"), ch, ch, cfg.NormGroups))
	return m
}

// Forward maps x (B, C, H, W) -> (B, C, H, W).
func (m *MidBlock) Forward(x *nn.Tensor) *nn.Tensor { return m.forward(x, nil) }

// forward is Forward that shows the attention's output to afterAttn (for tracing).
func (m *MidBlock) forward(x *nn.Tensor, afterAttn func(*nn.Tensor)) *nn.Tensor {
	x = m.Resnets[0].Forward(x)
	for i, a := range m.Attentions {
		if a != nil {
			x = a.Forward(x)
			if afterAttn != nil {
				afterAttn(x)
			}
		}
		x = m.Resnets[i+1].Forward(x)
	}
	return x
}
