package weights

import (
	"fmt"
	"strings"
)

// Stable Diffusion XL's single file (Stability's "sgm" layout, as
// sd_xl_base_1.0.safetensors) keeps the U-Net and the VAE under the LDM
// names of SD 1.x (model.diffusion_model.*, first_stage_model.*; the U-Net
// adds label_emb.0.{0,2} for diffusers' add_embedding), and its two text
// encoders under "conditioner":
//
//	conditioner.embedders.0.transformer.text_model.*  CLIP ViT-L, transformers' names verbatim
//	conditioner.embedders.1.model.*                   OpenCLIP ViT-bigG, OpenCLIP's names
//
// The second is SD 2.x's OpenCLIP layout plus text_projection, stored as
// OpenCLIP multiplies by it (x @ W, (D, P)): the transpose of transformers'
// text_projection.weight (P, D). The SDXL refiner's single file has only an
// OpenCLIP encoder, as conditioner.embedders.0.model.*.

// The text-encoder layouts of SDXL single files (after those of ldm.go).
const (
	TextSDXL        TextLayout = TextOpenCLIP + 1 + iota // SDXL: conditioner.embedders.0 (CLIP) and .1 (OpenCLIP)
	TextSDXLRefiner                                      // SDXL refiner: conditioner.embedders.0.model.* (OpenCLIP only)
)

// The text-encoder prefixes of SDXL single files.
const (
	SDXLCLIPPrefix     = "conditioner.embedders.0.transformer." // SDXL base: CLIP ViT-L (transformers names)
	SDXLOpenCLIPPrefix = "conditioner.embedders.1.model."       // SDXL base: OpenCLIP ViT-bigG
	SDXLRefinerPrefix  = "conditioner.embedders.0.model."       // SDXL refiner: OpenCLIP ViT-bigG only
)

// TextFromSDXL is a view of text encoder i (0 or 1) of an SDXL single file
// under transformers' names: encoder 0 (CLIPTextModel) as
// "text_model.encoder.layers.0.mlp.fc1.weight", …; encoder 1
// (CLIPTextModelWithProjection) likewise plus "text_projection.weight"
// (P, D), seen transposed from the file's (D, P). As for SD 2.x, each fused
// attn.in_proj_weight (3·D, D) is split into q, k and v by rows; the
// encoders' position_ids buffer is left for the loader to skip and
// OpenCLIP's logit_scale is hidden.
func TextFromSDXL(src Source, i int) Source {
	if i == 0 {
		return newView(src, func(name string) []viewName {
			rest, ok := strings.CutPrefix(name, SDXLCLIPPrefix)
			if !ok {
				return nil
			}
			return []viewName{{name: rest}}
		})
	}
	return newView(src, func(name string) []viewName {
		rest, ok := strings.CutPrefix(name, SDXLOpenCLIPPrefix)
		if !ok {
			return nil
		}
		if rest == "text_projection" {
			return []viewName{{name: "text_projection.weight", entry: viewEntry{transpose: true}}} // (D, P) -> (P, D)
		}
		return openCLIPName(LDMOpenCLIPPrefix + rest) // SD 2.x's names from here on
	})
}

// SDXLSingleFile renames the tensors of one SDXL component, listed in
// diffusers/transformers names (as a ShapeRecorder lists them), to the
// names and shapes of an SDXL single file: the inverse of UNetFromLDM,
// VAEFromLDM and TextFromSDXL, from the same name maps. component is
// "unet", "vae", "text_encoder" or "text_encoder_2". The U-Net and the VAE
// are renamed as [LDMSingleFile] renames them; text_encoder_2's q, k and v
// projections become one fused in_proj and its text_projection OpenCLIP's
// (D, P) matrix. Data, if any, is kept only for tensors whose layout does
// not change.
func SDXLSingleFile(component string, entries []Entry) ([]Entry, error) {
	switch component {
	case "text_encoder":
		return renameEntries(component, entries, func(e Entry) (Entry, bool) {
			e.Name = SDXLCLIPPrefix + e.Name
			return e, true
		})
	case "text_encoder_2":
		return openCLIPEntries(entries)
	case "unet", "vae":
		return LDMSingleFile(component, entries)
	}
	return nil, fmt.Errorf("weights: SDXLSingleFile: unknown component %q", component)
}

// LDMSingleFile renames the tensors of one SD 1.x component, listed in
// diffusers/transformers names (as a ShapeRecorder lists them), to the
// names and shapes of an original (LDM) single file such as
// v1-5-pruned-emaonly.safetensors: the inverse of UNetFromLDM, VAEFromLDM
// and the SD 1.x text-encoder prefix, from the same name maps. component is
// "unet", "vae" or "text_encoder". The U-Net's and the VAE's layouts are
// read from the names; the VAE's mid-block attention becomes 1×1
// convolutions. Data, if any, is kept only for tensors whose layout does
// not change.
func LDMSingleFile(component string, entries []Entry) ([]Entry, error) {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	var conv func(e Entry) (Entry, bool)
	switch component {
	case "unet":
		l := unetLayout{levels: countIndices(names, "down_blocks."), layersPerBlock: countIndices(names, "down_blocks.0.resnets.")}
		for i := range l.levels {
			l.upAttention = append(l.upAttention, hasPrefix(names, fmt.Sprintf("up_blocks.%d.attentions.", i)))
		}
		m := unetMap(l)
		conv = func(e Entry) (Entry, bool) {
			n, ok := m.toSource(e.Name)
			e.Name = LDMUNetPrefix + n
			return e, ok
		}
	case "vae":
		m := vaeMap(countIndices(names, "encoder.down_blocks."), countIndices(names, "encoder.down_blocks.0.resnets."))
		conv = func(e Entry) (Entry, bool) {
			n, ok := m.toSource(e.Name)
			if strings.Contains(e.Name, "mid_block.attentions.0.to_") && len(e.Shape) == 2 {
				e.Shape = append(e.Shape, 1, 1) // (C, C) -> (C, C, 1, 1): LDM's 1×1 convolutions
			}
			e.Name = LDMVAEPrefix + n
			return e, ok
		}
	case "text_encoder":
		conv = func(e Entry) (Entry, bool) {
			e.Name = LDMCLIPPrefix + e.Name
			return e, true
		}
	default:
		return nil, fmt.Errorf("weights: LDMSingleFile: unknown component %q", component)
	}
	return renameEntries(component, entries, conv)
}

// renameEntries applies conv to every entry, failing on the first name it
// has no single-file name for.
func renameEntries(component string, entries []Entry, conv func(Entry) (Entry, bool)) ([]Entry, error) {
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		c, ok := conv(e)
		if !ok {
			return nil, fmt.Errorf("weights: %s tensor %q has no single-file name", component, e.Name)
		}
		out = append(out, c)
	}
	return out, nil
}

// openCLIPEntries renames a CLIPTextModelWithProjection's tensors to
// conditioner.embedders.1.model.*, fusing each layer's q, k and v
// projections into in_proj (3·D rows, q first) and transposing
// text_projection. Fused and transposed tensors carry no data.
func openCLIPEntries(entries []Entry) ([]Entry, error) {
	var out []Entry
	for _, e := range entries {
		if e.Name == "text_projection.weight" && len(e.Shape) == 2 {
			out = append(out, Entry{Name: SDXLOpenCLIPPrefix + "text_projection", DType: e.DType, Shape: []int{e.Shape[1], e.Shape[0]}}) // (P, D) -> (D, P)
			continue
		}
		if rest, ok := strings.CutPrefix(e.Name, "text_model.encoder.layers."); ok {
			num, inner, _ := strings.Cut(rest, ".")
			block := SDXLOpenCLIPPrefix + "transformer.resblocks." + num + "."
			if p, kind, ok := strings.Cut(inner, "_proj."); ok && (p == "self_attn.q" || p == "self_attn.k" || p == "self_attn.v") {
				if p == "self_attn.q" { // k and v join q's fused tensor
					shape := append([]int{3 * e.Shape[0]}, e.Shape[1:]...) // (3·D, D) or (3·D)
					out = append(out, Entry{Name: block + "attn.in_proj_" + kind, DType: e.DType, Shape: shape})
				}
				continue
			}
			n, ok := openCLIPBlock.toSource(inner)
			if !ok {
				return nil, fmt.Errorf("weights: SDXLSingleFile: text_encoder_2 tensor %q has no OpenCLIP name", e.Name)
			}
			e.Name = block + n
			out = append(out, e)
			continue
		}
		n, ok := openCLIPMap.toSource(e.Name)
		if !ok {
			return nil, fmt.Errorf("weights: SDXLSingleFile: text_encoder_2 tensor %q has no OpenCLIP name", e.Name)
		}
		e.Name = SDXLOpenCLIPPrefix + n
		out = append(out, e)
	}
	return out, nil
}
