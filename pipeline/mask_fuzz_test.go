package pipeline

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"testing"
)

// FuzzMask feeds arbitrary PNG masks and settings to the mask
// preprocessing: it must return a mask or an error, never panic.
func FuzzMask(f *testing.F) {
	rgb := image.NewNRGBA(image.Rect(0, 0, 16, 16)) // opaque grey RGB: luma, resized channel by channel
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(255 * (i / 4 % 16 / 8))
		if i%4 == 3 {
			rgb.Pix[i] = 255
		}
	}
	for _, m := range []image.Image{
		gray(32, 32, image.Rect(4, 4, 20, 20), 255),
		rgb,
		gray(16, 16, image.Rect(0, 0, 16, 8), 200),
		image.NewNRGBA(image.Rect(0, 0, 8, 8)),
		image.NewGray(image.Rect(0, 0, 1, 1)),
	} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes(), uint8(0), false, false, uint8(16))
		f.Add(buf.Bytes(), uint8(3), true, true, uint8(8))
	}
	init := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range init.Pix {
		init.Pix[i] = uint8(i)
	}
	f.Fuzz(func(t *testing.T, data []byte, blur uint8, invert, fullRes bool, size uint8) {
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > 1<<16 {
			return
		}
		mask, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		side := 2 * (int(size%32) + 1)
		o := Options{Width: side, Height: side, InitImage: init,
			Inpaint: Inpaint{Mask: mask, MaskBlur: int(blur % 9), InvertMask: invert, FullRes: fullRes}}
		in, err := prepareInpaint(o, 2)
		if err != nil {
			var me *MaskError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a MaskError", err)
			}
			return
		}
		if len(in.mask.Data) != side*side || len(in.maskLatent.Data) != side*side/4 {
			t.Fatalf("mask %v, latent mask %v for %d×%d", in.mask.Shape, in.maskLatent.Shape, side, side)
		}
		for _, v := range in.mask.Data {
			if v != 0 && v != 1 {
				t.Fatalf("mask value %g", v)
			}
		}
		if fullRes && !in.crop.In(init.Rect) {
			t.Fatalf("crop %v outside the image", in.crop)
		}
	})
}
