package vae

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"

	// Register the JPEG decoder for ReadImage (PNG is imported above).
	_ "image/jpeg"

	"golang.org/x/image/draw"

	"github.com/sdgo/sdgo/nn"
)

// ToImages converts decoder output x (B, 3, H, W) in about [-1, 1] into 8-bit
// RGB images, as diffusers' VaeImageProcessor.postprocess does:
// (x/2 + 0.5) clamped to [0, 1], times 255 in float32, rounded half to even.
func ToImages(x *nn.Tensor) ([]*image.NRGBA, error) {
	if len(x.Shape) != 4 || x.Shape[1] != 3 {
		return nil, fmt.Errorf("vae: to image: tensor of shape %v, want (B, 3, H, W)", x.Shape)
	}
	b, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	plane := h * w
	imgs := make([]*image.NRGBA, b)
	for bi := range imgs {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		src := x.Data[bi*3*plane : (bi+1)*3*plane]
		for p := 0; p < plane; p++ { // p = y·W + x; Pix holds R, G, B, A per pixel
			for c := 0; c < 3; c++ {
				img.Pix[4*p+c] = toByte(src[c*plane+p])
			}
			img.Pix[4*p+3] = 255
		}
		imgs[bi] = img
	}
	return imgs, nil
}

// toByte maps v in [-1, 1] to 0…255 with diffusers' rounding.
func toByte(v float32) uint8 {
	u := min(max(v/2+0.5, 0), 1) // [-1, 1] -> [0, 1], clamped
	// numpy's round() on the float32 product rounds halves to even; Go's
	// math.Round would round them away from zero.
	return uint8(math.RoundToEven(float64(u * 255)))
}

// ImageToTensor converts img into a (1, 3, h, w) tensor in [-1, 1], resizing
// it first when its size is not w×h; w or h of 0 keeps the image's own size.
// It is diffusers' VaeImageProcessor.preprocess for an RGB image: value/255
// in float32, then 2·v − 1; alpha is dropped without blending. (diffusers
// resizes with PIL's Lanczos filter, this with Catmull-Rom from
// golang.org/x/image/draw: resized pixels differ slightly.) The encoder
// needs w and h to be multiples of the VAE's scale factor.
func ImageToTensor(img image.Image, w, h int) *nn.Tensor {
	b := img.Bounds()
	if w <= 0 || h <= 0 {
		w, h = b.Dx(), b.Dy()
	}
	rgb := image.NewNRGBA(image.Rect(0, 0, w, h))
	if b.Dx() == w && b.Dy() == h {
		draw.Draw(rgb, rgb.Rect, img, b.Min, draw.Src)
	} else {
		draw.CatmullRom.Scale(rgb, rgb.Rect, img, b, draw.Src, nil)
	}
	plane := w * h
	x := nn.New(1, 3, h, w)
	for p := 0; p < plane; p++ {
		for c := 0; c < 3; c++ {
			v := float32(rgb.Pix[4*p+c]) / 255 // [0, 255] -> [0, 1]
			x.Data[c*plane+p] = 2*v - 1        // [0, 1] -> [-1, 1]
		}
	}
	return x
}

// ReadImage decodes a PNG or JPEG file.
func ReadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("vae: %s: %w", path, err)
	}
	return img, nil
}

// WritePNG encodes img as a PNG file at path.
func WritePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vae: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("vae: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vae: %s: %w", path, err)
	}
	return nil
}
