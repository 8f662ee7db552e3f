package vae

import (
	"image"

	"github.com/sdgo/sdgo/nn"
)

// latentRGB maps SD 1.x/2.x latent channels to RGB: the linear map that the
// web UIs and ComfyUI use for their cheap previews.
var latentRGB = [4][3]float32{
	{0.3512, 0.2297, 0.3227},
	{0.3250, 0.4974, 0.2350},
	{-0.2829, 0.1762, 0.2721},
	{-0.2120, -0.2616, -0.7177},
}

// Preview renders the first latent of a batch (B, 4, h, w), at the U-Net's
// scale, as an h×w RGB picture through a fixed linear map of the channels: a
// rough image at no cost, one pixel per latent cell, for per-step previews.
func Preview(latents *nn.Tensor) *image.NRGBA {
	c, h, w := latents.Shape[1], latents.Shape[2], latents.Shape[3]
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	plane := h * w
	for i := range plane {
		var rgb [3]float32
		for ch := range min(c, 4) {
			v := latents.Data[ch*plane+i]
			for k := range rgb {
				rgb[k] += v * latentRGB[ch][k]
			}
		}
		for k, v := range rgb {
			img.Pix[4*i+k] = uint8(min(max((v+1)/2, 0), 1) * 255)
		}
		img.Pix[4*i+3] = 255
	}
	return img
}
