package weights

import "fmt"

// UNetNamesToLDM maps U-Net names in diffusers naming ("down_blocks.0.resnets.0.conv1.weight")
// to the original (LDM) layout's names without the model.diffusion_model.
// prefix ("input_blocks.1.0.in_layers.2.weight"), by the same map
// [UNetFromLDM] reads single-file checkpoints with. The layout (levels,
// resnets per level, which up blocks have attentions) is read from names
// themselves, which should be all of a model's U-Net names. Names no pair
// matches keep their name.
//
// LoRA files name their modules in either layout; package lora uses this to
// address a model loaded in diffusers naming.
func UNetNamesToLDM(names []string) map[string]string {
	l := unetLayout{
		levels:         countIndices(names, "down_blocks."),
		layersPerBlock: countIndices(names, "down_blocks.0.resnets."),
	}
	for i := range l.levels {
		l.upAttention = append(l.upAttention, hasPrefix(names, fmt.Sprintf("up_blocks.%d.attentions.", i)))
	}
	m := unetMap(l)
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n], _ = m.toSource(n)
	}
	return out
}
