package server

import (
	"image"

	"github.com/sdgo/sdgo/pipeline"
)

// inpaintRequest holds AUTOMATIC1111's inpainting fields of
// /sdapi/v1/img2img. Absent fields take the defaults of A1111's
// StableDiffusionProcessingImg2Img: mask blur 4, fill 0 ("fill"), full-res
// inpainting on with no padding, the mask not inverted.
type inpaintRequest struct {
	Mask                  string `json:"mask,omitempty"` // base64 PNG, JPEG or WebP; white repaints
	MaskBlur              *int   `json:"mask_blur,omitempty"`
	InpaintingFill        int    `json:"inpainting_fill"` // 0 fill, 1 original, 2 latent noise, 3 latent nothing
	InpaintFullRes        *bool  `json:"inpaint_full_res,omitempty"`
	InpaintFullResPadding int    `json:"inpaint_full_res_padding"`
	InpaintingMaskInvert  int    `json:"inpainting_mask_invert"` // 1 repaints the black part

	mask image.Image // decoded from Mask
}

// maxMaskBlur bounds mask_blur: a blur wider than the largest image does
// nothing more.
const maxMaskBlur = 256

// inpaint validates the inpainting fields and returns the pipeline's
// settings; without a mask it returns the zero value.
func (p *inpaintRequest) inpaint(maxSide int) (pipeline.Inpaint, error) {
	var in pipeline.Inpaint
	if p.Mask == "" {
		return in, nil
	}
	blur := 4
	if p.MaskBlur != nil {
		blur = *p.MaskBlur
	}
	if blur < 0 || blur > maxMaskBlur {
		return in, badField("mask_blur", "must be between 0 and %d pixels, got %d", maxMaskBlur, blur)
	}
	fill, err := pipeline.FillFromA1111(p.InpaintingFill)
	if err != nil {
		return in, badField("inpainting_fill", "must be 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing), got %d", p.InpaintingFill)
	}
	if p.InpaintFullResPadding < 0 || p.InpaintFullResPadding > maxSide {
		return in, badField("inpaint_full_res_padding", "must be between 0 and %d pixels, got %d", maxSide, p.InpaintFullResPadding)
	}
	if p.InpaintingMaskInvert != 0 && p.InpaintingMaskInvert != 1 {
		return in, badField("inpainting_mask_invert", "must be 0 (inpaint masked) or 1 (inpaint not masked), got %d", p.InpaintingMaskInvert)
	}
	if p.mask == nil {
		if p.mask, err = decodeImage("mask", p.Mask, maxSide); err != nil {
			return in, err
		}
	}
	in = pipeline.Inpaint{
		Mask:           p.mask,
		MaskBlur:       blur,
		InvertMask:     p.InpaintingMaskInvert == 1,
		Fill:           fill,
		FullRes:        p.InpaintFullRes == nil || *p.InpaintFullRes,
		FullResPadding: p.InpaintFullResPadding,
	}
	return in, nil
}
