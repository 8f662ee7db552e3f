package main

import (
	"fmt"
	fig "github.com/sdgo/sdgo/internal/figure"
	"image"
	"image/color"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/vae"
)

// inpaintPrompt is what the inpainting figure paints into the masked lower
// half of the running example.
const inpaintPrompt = "a red circle above a yellow triangle"

// figInpaint generates the running example, then inpaints its lower half
// with inpaintPrompt and shows the pipeline's inputs (image, mask, masked
// image, the mask on the latent grid, the image's latents), the latent
// before the first step and after a few others (RGB map and decoded), and
// the result: the whole decoded frame and the frame pasted back over the
// original through the mask.
func (g *gen) figInpaint() (image.Image, error) {
	o := g.s.options()
	init, _, err := g.generate(o)
	if err != nil {
		return nil, err
	}
	w, h := init.Bounds().Dx(), init.Bounds().Dy()
	mask := image.NewGray(init.Bounds())
	for y := h / 2; y < h; y++ {
		for x := 0; x < w; x++ {
			mask.SetGray(x, y, color.Gray{255})
		}
	}
	o.Prompt, o.InitImage, o.Strength = inpaintPrompt, init, 1
	o.Width, o.Height = w, h
	o.Mask, o.NoPasteBack = mask, true
	frame, st, err := g.generate(o)
	if err != nil {
		return nil, err
	}
	o.NoPasteBack = false
	pasted, _, err := g.generate(o)
	if err != nil {
		return nil, err
	}

	get := func(name string) (*nn.Tensor, error) {
		if t := st.Tensor(name); t != nil {
			return t, nil
		}
		return nil, fmt.Errorf("no stage %s", name)
	}
	inputs := []fig.Cell{{Img: init, Label: "image"}}
	for _, name := range []string{"mask", "masked_image", "mask_latent"} {
		t, err := get(name)
		if err != nil {
			return nil, err
		}
		img, err := tensorImage(t)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, fig.Cell{Img: img, Label: name})
	}
	if t := st.Tensor("masked_image_latents"); t != nil { // an inpainting U-Net's
		inputs = append(inputs, fig.Cell{Img: latentPreview(t), Label: "masked latents"})
	} else if t := st.Tensor("image_latents"); t != nil { // an ordinary U-Net's blend target
		inputs = append(inputs, fig.Cell{Img: latentPreview(t), Label: "image latents"})
	}
	latents, labels, err := stepLatents(get, st.Names())
	if err != nil {
		return nil, err
	}
	var maps, decoded []fig.Cell
	for i, l := range latents {
		maps = append(maps, fig.Cell{Img: latentPreview(l), Label: labels[i]})
		img, err := decode(g.model.VAE, l)
		if err != nil {
			return nil, err
		}
		decoded = append(decoded, fig.Cell{Img: img, Label: labels[i]})
	}
	result := []fig.Cell{{Img: frame, Label: "decoded frame"}, {Img: pasted, Label: "pasted back"}}
	rows := [][]fig.Cell{inputs, maps, decoded, result}
	title := fmt.Sprintf("inpainting the lower half: %q (%s, %d steps, cfg %g, seed %d)", inpaintPrompt, g.s.Sampler, g.s.Steps, g.s.CFG, g.s.Seed)
	return fig.Grid(rows, []string{"inputs", "latent (RGB map)", "latent, decoded", "result"}, g.s.Side, title), nil
}

// tensorImage shows a (1, 1, H, W) mask in [0, 1] as grey levels and a
// (1, 3, H, W) image in [-1, 1] as RGB.
func tensorImage(t *nn.Tensor) (image.Image, error) {
	if len(t.Shape) == 4 && t.Shape[1] == 1 {
		h, w := t.Shape[2], t.Shape[3]
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i, v := range t.Data {
			img.Pix[i] = uint8(min(max(v, 0), 1)*255 + 0.5)
		}
		return img, nil
	}
	imgs, err := vae.ToImages(t)
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}
