package pipeline

import (
	"fmt"
	"strings"

	"github.com/sdgo/sdgo/weights"
)

// familyOf names the model family whose U-Net attends to a context this wide.
func familyOf(context int) string {
	switch context {
	case 768:
		return "SD 1.x"
	case 1024:
		return "SD 2.x"
	case 2048:
		return "SDXL"
	}
	return fmt.Sprintf("a %d-wide context", context)
}

// CheckAdapterFamily reports, naming the file, an adapter (LoRA, LoCon, …)
// made for another model family than m's: kohya's SDXL names for the two
// text encoders (lora_te1_, lora_te2_) on an SD 1.x or 2.x model, SD 1.x's
// lora_te_ on SDXL, or cross-attention keys and values (attn2 to_k, to_v)
// whose input width is not the U-Net's context width (768 for SD 1.x, 1024
// for SD 2.x, 2048 for SDXL). An adapter loader calls it before matching
// names, so that a family mismatch is one clear error rather than a list of
// unknown tensors.
func (m *Model) CheckAdapterFamily(path string, src weights.Source) error {
	xl := m.Version == SDXL
	model := familyOf(m.UNet.Config.CrossAttentionDim)
	for _, n := range src.Names() {
		switch {
		case !xl && (strings.HasPrefix(n, "lora_te1_") || strings.HasPrefix(n, "lora_te2_")):
			return fmt.Errorf("%s: %s is an SDXL adapter (two text encoders), the model is %s", path, n, model)
		case xl && strings.HasPrefix(n, "lora_te_"):
			return fmt.Errorf("%s: %s is for a single text encoder (SD 1.x/2.x), the model is SDXL", path, n)
		}
		// The down (A) matrix of a cross-attention key or value projection
		// is (rank, context width).
		low := strings.ReplaceAll(n, ".", "_")
		if !(strings.Contains(low, "attn2_to_k") || strings.Contains(low, "attn2_to_v")) ||
			!(strings.HasSuffix(low, "lora_down_weight") || strings.HasSuffix(low, "lora_A_weight")) {
			continue
		}
		if in, ok := src.Info(n); ok && len(in.Shape) == 2 && in.Shape[1] != m.UNet.Config.CrossAttentionDim {
			return fmt.Errorf("%s: %s takes %s's context (width %d), the model is %s (width %d)",
				path, n, familyOf(in.Shape[1]), in.Shape[1], model, m.UNet.Config.CrossAttentionDim)
		}
	}
	return nil
}
