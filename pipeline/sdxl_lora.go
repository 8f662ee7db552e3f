package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/lora"
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
	return fmt.Sprintf("a model of context width %d", context)
}

// namedFamily is " (SD 1.x)" for a known family's context width, else "".
func namedFamily(context int) string {
	switch context {
	case 768, 1024, 2048:
		return " (" + familyOf(context) + ")"
	}
	return ""
}

// CheckAdapterFamily reports, naming the file, an adapter (LoRA, LoCon, …)
// made for another model family than m's: kohya's SDXL names for the two
// text encoders (lora_te1_, lora_te2_) or diffusers' text_encoder_2. on an
// SD 1.x or 2.x model, SD 1.x's lora_te_ on SDXL, or cross-attention keys
// and values (attn2 to_k, to_v) whose input width is not the U-Net's
// context width (768 for SD 1.x, 1024 for SD 2.x, 2048 for SDXL). The
// adapter loader (prepareAdapters) checks every file this way before
// matching names, so that a family mismatch is one clear error rather than
// a list of unknown tensors, even with --lora-skip-unknown.
func (m *Model) CheckAdapterFamily(path string, src weights.Source) error {
	return m.checkFamily(path, src.Names(), func(n string) []int {
		if in, ok := src.Info(n); ok {
			return in.Shape
		}
		return nil
	})
}

// checkAdapter is CheckAdapterFamily for an adapter read by package lora.
func (m *Model) checkAdapter(a *lora.Adapter) error {
	shapes := map[string][]int{}
	var names []string
	for _, mod := range a.Modules {
		for part, n := range mod.Names {
			names = append(names, n)
			shapes[n] = mod.Parts[part].Shape
		}
	}
	names = append(names, a.Unknown...)
	sort.Strings(names)
	return m.checkFamily(a.Path, names, func(n string) []int { return shapes[n] })
}

// checkFamily is CheckAdapterFamily over tensor names and their shapes.
func (m *Model) checkFamily(path string, names []string, shape func(string) []int) error {
	xl := m.Version == SDXL
	model := familyOf(m.UNet.Config.CrossAttentionDim)
	for _, n := range names {
		switch {
		case !xl && (strings.HasPrefix(n, "lora_te1_") || strings.HasPrefix(n, "lora_te2_") || strings.HasPrefix(n, lora.Text2Prefix)):
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
		if s := shape(n); len(s) == 2 && s[1] != m.UNet.Config.CrossAttentionDim {
			c := m.UNet.Config.CrossAttentionDim
			return fmt.Errorf("%s: %s is for a context of width %d%s, the model's U-Net takes %d%s: an adapter for another model family",
				path, n, s[1], namedFamily(s[1]), c, namedFamily(c))
		}
	}
	return nil
}
