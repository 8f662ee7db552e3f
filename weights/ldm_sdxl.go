package weights

import "strings"

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
