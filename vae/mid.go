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

// Forward maps x (B, C, H, W) -> (B, C, H, W). trace, when not nil, sees the
// attention's output under the name prefix+".attn".
func (m *MidBlock) Forward(x *nn.Tensor, trace func(string, *nn.Tensor), prefix string) *nn.Tensor {
	x = m.Resnets[0].Forward(x)
	for i, a := range m.Attentions {
		if a != nil {
			x = a.Forward(x)
			if trace != nil {
				trace(prefix+".attn", x)
			}
		}
		x = m.Resnets[i+1].Forward(x)
	}
	return x
}
