package pipeline

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
)

// Inpainting masks: conversion to grey levels, resizing, inversion, blur,
// binarisation and the latent mask, as diffusers' StableDiffusionInpaintPipeline
// and AUTOMATIC1111's img2img prepare them. See ../shared/testdata/inpaint/README.md.

// Fill says what the masked area starts from before denoising: AUTOMATIC1111's
// "Masked content" (the API's inpainting_fill). It matters when the image is
// encoded, that is at strength < 1 or with an ordinary (4-channel) U-Net.
type Fill string

// The fills, with AUTOMATIC1111's inpainting_fill numbers.
const (
	FillOriginal      Fill = "original"       // 1: the image as it is (diffusers; the default)
	FillBlur          Fill = "fill"           // 0: the masked area painted with blurred colours of its surroundings
	FillLatentNoise   Fill = "latent-noise"   // 2: the masked latents replaced by noise
	FillLatentNothing Fill = "latent-nothing" // 3: the masked latents set to zero
)

// Fills lists the fill names in AUTOMATIC1111's inpainting_fill order (0…3).
var Fills = []Fill{FillBlur, FillOriginal, FillLatentNoise, FillLatentNothing}

// FillFromA1111 maps AUTOMATIC1111's inpainting_fill number (0 fill,
// 1 original, 2 latent noise, 3 latent nothing) to a Fill.
func FillFromA1111(n int) (Fill, error) {
	if n < 0 || n >= len(Fills) {
		return "", fmt.Errorf("inpainting_fill must be 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing), got %d", n)
	}
	return Fills[n], nil
}

// ParseFill checks a fill name ("" means FillOriginal).
func ParseFill(s string) (Fill, error) {
	if s == "" {
		return FillOriginal, nil
	}
	for _, f := range Fills {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown fill %q (want fill, original, latent-noise or latent-nothing)", s)
}

// maskThreshold is diffusers' binarisation: grey level ≥ 128 (x/255 ≥ 0.5
// in float32) repaints, ≤ 127 keeps.
const maskThreshold = 128

// greyMask is a mask as 8-bit grey levels, row-major: 255 = repaint.
type greyMask struct {
	w, h int
	pix  []uint8
	rgb  *image.NRGBA // the opaque RGB picture pix is the luma of (nil for grey and alpha masks); read by resize, which comes before invert and blur
}

// errMaskColour says a mask has coloured pixels.
var errMaskColour = errors.New("mask has coloured pixels: want black and white (white = repaint), grey levels, or an alpha channel")

// maskToGrey converts a mask image to grey levels. A mask whose alpha
// channel is not fully opaque uses its alpha (AUTOMATIC1111: painted =
// opaque = repaint); otherwise grey images give their level and RGB images
// their luma, computed as Pillow's convert("L") does (ITU-R 601-2, in
// 16.16 fixed point). RGB masks must be grey (R = G = B within 8 levels,
// for JPEG's rounding): a coloured picture is almost surely not a mask.
func maskToGrey(img image.Image) (greyMask, error) {
	b := img.Bounds()
	g := greyMask{w: b.Dx(), h: b.Dy(), pix: make([]uint8, b.Dx()*b.Dy())}
	if g.w == 0 || g.h == 0 {
		return g, errors.New("mask is empty (0 pixels)")
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < g.h; y++ {
			copy(g.pix[y*g.w:(y+1)*g.w], m.Pix[y*m.Stride:y*m.Stride+g.w])
		}
		return g, nil
	case *image.Gray16:
		for i := range g.pix {
			g.pix[i] = uint8(m.Gray16At(b.Min.X+i%g.w, b.Min.Y+i/g.w).Y >> 8)
		}
		return g, nil
	}
	// Alpha first: a transparent-background brush stroke is a mask.
	opaque := true
	for i := range g.pix {
		_, _, _, a := img.At(b.Min.X+i%g.w, b.Min.Y+i/g.w).RGBA()
		g.pix[i] = uint8(a >> 8)
		if a != 0xffff {
			opaque = false
		}
	}
	if !opaque {
		return g, nil
	}
	g.rgb = toNRGBA(img)
	for i := range g.pix {
		c := g.rgb.Pix[4*i : 4*i+3]
		r, gr, bl := int(c[0]), int(c[1]), int(c[2])
		if max(r, gr, bl)-min(r, gr, bl) > 8 {
			return g, fmt.Errorf("%w (pixel %d,%d is rgb(%d,%d,%d))", errMaskColour, i%g.w, i/g.w, r, gr, bl)
		}
		g.pix[i] = luma(r, gr, bl)
	}
	return g, nil
}

// luma is Pillow's RGB → L conversion: ITU-R 601-2 in 16.16 fixed point, rounded.
func luma(r, g, b int) uint8 { return uint8((r*19595 + g*38470 + b*7471 + 0x8000) >> 16) }

// invert swaps repaint and keep.
func (g greyMask) invert() {
	for i, v := range g.pix {
		g.pix[i] = 255 - v
	}
}

// binary returns the binarised mask (1, 1, H, W): 1 where the level is at
// least 128, else 0; and the number of ones.
func (g greyMask) binary() ([]float32, int) {
	out := make([]float32, len(g.pix))
	n := 0
	for i, v := range g.pix {
		if v >= maskThreshold {
			out[i] = 1
			n++
		}
	}
	return out, n
}

// check reports a mask that repaints nothing or everything.
func (g greyMask) check() error {
	_, n := g.binary()
	switch n {
	case 0:
		return errors.New("mask has no white pixels: nothing to repaint (white, level ≥ 128, marks what to repaint; --invert-mask swaps)")
	case len(g.pix):
		return errors.New("mask is all white: everything would be repainted (use img2img without a mask, or --invert-mask if black marks what to repaint)")
	}
	return nil
}

// sameAspect reports whether a w1×h1 and a w2×h2 picture have the same
// aspect ratio within 1%, so that one can be resized to the other.
func sameAspect(w1, h1, w2, h2 int) bool {
	a, b := float64(w1*h2), float64(w2*h1)
	return math.Abs(a-b) <= 0.01*max(a, b)
}

// latentMask is diffusers' F.interpolate(mask, size=(h, w), mode="nearest"):
// cell (y, x) takes the mask pixel (⌊y·H/h⌋, ⌊x·W/w⌋), for a factor f the
// top-left pixel of each f×f block.
func latentMask(mask []float32, w, h, lw, lh int) []float32 {
	out := make([]float32, lw*lh)
	sy, sx := float32(h)/float32(lh), float32(w)/float32(lw) // torch's float scales
	for y := 0; y < lh; y++ {
		iy := min(int(float32(y)*sy), h-1)
		for x := 0; x < lw; x++ {
			ix := min(int(float32(x)*sx), w-1)
			out[y*lw+x] = mask[iy*w+ix]
		}
	}
	return out
}

// gaussianBlur blurs the mask as AUTOMATIC1111's mask_blur does with OpenCV:
// cv2.GaussianBlur with σ = r and kernel size 2·⌊2.5σ + 0.5⌋ + 1, first along
// x, then along y, each pass rounded to 8 bits, borders reflected without
// repeating the edge pixel (BORDER_REFLECT_101). (OpenCV's 8-bit fixed-point
// kernels can differ by one level.)
func (g greyMask) gaussianBlur(r int) {
	if r <= 0 {
		return
	}
	sigma := float64(r)
	half := int(2.5*sigma + 0.5)
	k := make([]float64, 2*half+1)
	sum := 0.0
	for i := range k {
		d := float64(i - half)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]uint8, len(g.pix))
	pass := func(dst, src []uint8, n, count, stride, step int) { // n samples per line, count lines
		for l := 0; l < count; l++ {
			for i := 0; i < n; i++ {
				s := 0.0
				for j, kw := range k {
					s += kw * float64(src[l*stride+reflect101(i+j-half, n)*step])
				}
				dst[l*stride+i*step] = uint8(min(max(math.Round(s), 0), 255))
			}
		}
	}
	pass(tmp, g.pix, g.w, g.h, g.w, 1) // rows
	pass(g.pix, tmp, g.h, g.w, 1, g.w) // columns
}

// reflect101 maps an index outside [0, n) into it by reflection about the
// edge pixels (… 2 1 | 0 1 2 … n−1 | n−2 …).
func reflect101(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// overlayMask is AUTOMATIC1111's mask for pasting the result back: the
// (blurred) mask; blurred masks doubled and clipped so that everything
// repainted (level ≥ 128) is fully replaced and only the outer half of the
// blur blends.
func (g greyMask) overlayMask(blurred bool) []uint8 {
	out := append([]uint8(nil), g.pix...)
	if blurred {
		for i, v := range out {
			out[i] = uint8(min(2*int(v), 255))
		}
	}
	return out
}

// pasteBack puts the generated image over the original where the mask says
// repaint, with Pillow's integer alpha arithmetic, exactly as diffusers'
// VaeImageProcessor.apply_overlay(mask, init, image) computes it: a = 255 −
// mask is the original's alpha; the original is premultiplied and
// unpremultiplied (RGBa round trip), then alpha-composited over the
// generated pixel. A 0/255 mask selects pixels.
func pasteBack(orig, gen *image.NRGBA, mask []uint8) *image.NRGBA {
	out := image.NewNRGBA(gen.Rect)
	w := gen.Rect.Dx()
	for i, mv := range mask {
		x, y := i%w, i/w
		po := orig.PixOffset(orig.Rect.Min.X+x, orig.Rect.Min.Y+y)
		pg := gen.PixOffset(gen.Rect.Min.X+x, gen.Rect.Min.Y+y)
		po2 := out.PixOffset(out.Rect.Min.X+x, out.Rect.Min.Y+y)
		a := 255 - int(mv)
		for c := 0; c < 3; c++ {
			g := int(gen.Pix[pg+c])
			if a == 0 {
				out.Pix[po2+c] = uint8(g)
				continue
			}
			p := div255(int(orig.Pix[po+c]) * a)
			cp := p
			if a != 255 {
				cp = min(255, 255*p/a)
			}
			out.Pix[po2+c] = uint8(shiftDiv255(128*(cp*a+g*(255-a))+16384) >> 7)
		}
		out.Pix[po2+3] = 255
	}
	return out
}

func shiftDiv255(v int) int { return ((v >> 8) + v) >> 8 }
func div255(v int) int      { return shiftDiv255(v + 128) }

// Lanczos resizing, as Pillow 9.4's Image.resize(size, Image.LANCZOS) does
// for 8-bit channels (libImaging/Resample.c), which diffusers' image
// processor uses: a horizontal then a vertical pass, each with a 3-lobe
// Lanczos kernel stretched by the downscale factor, coefficients in 22-bit
// fixed point, each pass rounded and clipped to 8 bits.

const lanczosBits = 22 // Pillow's PRECISION_BITS for 8-bit images

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func lanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

// lanczosCoeffs returns, for each of the out output samples, the first
// input sample and the fixed-point weights of the inputs it reads.
func lanczosCoeffs(in, out int) (first []int, weights [][]int) {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := 3 * filterscale
	first = make([]int, out)
	weights = make([][]int, out)
	for o := 0; o < out; o++ {
		center := (float64(o) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), in) - xmin
		k := make([]float64, xmax)
		ww := 0.0
		for x := range k {
			k[x] = lanczos((float64(x+xmin) - center + 0.5) / filterscale)
			ww += k[x]
		}
		kk := make([]int, xmax)
		for x := range k {
			if ww != 0 {
				k[x] /= ww
			}
			if k[x] < 0 {
				kk[x] = int(-0.5 + k[x]*(1<<lanczosBits))
			} else {
				kk[x] = int(0.5 + k[x]*(1<<lanczosBits))
			}
		}
		first[o], weights[o] = xmin, kk
	}
	return first, weights
}

// resample1D resamples count lines of n samples (sample i of line l at
// src[l·lineStride + i·step]) to m samples each, into a fresh buffer laid
// out the same way with m in place of n.
func resample1D(src []uint8, n, m, count int, alongX bool, w int) []uint8 {
	first, kk := lanczosCoeffs(n, m)
	var out []uint8
	if alongX { // lines are rows of width n = w
		out = make([]uint8, m*count)
		for l := 0; l < count; l++ {
			for o := 0; o < m; o++ {
				s := 1 << (lanczosBits - 1)
				for j, kw := range kk[o] {
					s += int(src[l*n+first[o]+j]) * kw
				}
				out[l*m+o] = clip8(s)
			}
		}
		return out
	}
	out = make([]uint8, m*w) // lines are columns of height n, w of them
	for o := 0; o < m; o++ {
		for x := 0; x < w; x++ {
			s := 1 << (lanczosBits - 1)
			for j, kw := range kk[o] {
				s += int(src[(first[o]+j)*w+x]) * kw
			}
			out[o*w+x] = clip8(s)
		}
	}
	return out
}

func clip8(s int) uint8 {
	switch {
	case s >= 1<<lanczosBits<<8:
		return 255
	case s <= 0:
		return 0
	}
	return uint8(s >> lanczosBits)
}

// resizePlane resizes a w×h 8-bit plane to nw×nh with Pillow's Lanczos.
func resizePlane(src []uint8, w, h, nw, nh int) []uint8 {
	out := src
	if nw != w {
		out = resample1D(out, w, nw, h, true, 0)
	}
	if nh != h {
		out = resample1D(out, h, nh, 0, false, nw)
	}
	if nw == w && nh == h {
		out = append([]uint8(nil), src...)
	}
	return out
}

// resize returns the mask resized to w×h, as diffusers' mask processor
// does: an RGB mask's channels are resized first and then converted to
// luma (Pillow's resize, then convert("L")); grey and alpha masks resize
// their levels.
func (g greyMask) resize(w, h int) greyMask {
	if g.w == w && g.h == h {
		return g
	}
	if g.rgb == nil {
		return greyMask{w: w, h: h, pix: resizePlane(g.pix, g.w, g.h, w, h)}
	}
	rgb := resizeRGB(g.rgb, w, h)
	out := greyMask{w: w, h: h, pix: make([]uint8, w*h), rgb: rgb}
	for i := range out.pix {
		c := rgb.Pix[4*i : 4*i+3]
		out.pix[i] = luma(int(c[0]), int(c[1]), int(c[2]))
	}
	return out
}

// toNRGBA copies an image into an opaque RGB *image.NRGBA with its origin
// at 0, 0 (alpha dropped without blending, as diffusers reads RGB).
func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			c.A = 255
			out.SetNRGBA(x, y, c)
		}
	}
	return out
}

// resizeRGB resizes an RGB image with Pillow's Lanczos, channel by channel
// (Pillow resizes RGB's channels independently too).
func resizeRGB(img *image.NRGBA, w, h int) *image.NRGBA {
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		return img
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	plane := make([]uint8, b.Dx()*b.Dy())
	for c := 0; c < 3; c++ {
		for i := range plane {
			plane[i] = img.Pix[img.PixOffset(b.Min.X+i%b.Dx(), b.Min.Y+i/b.Dx())+c]
		}
		r := resizePlane(plane, b.Dx(), b.Dy(), w, h)
		for i, v := range r {
			out.Pix[4*i+c] = v
			out.Pix[4*i+3] = 255
		}
	}
	return out
}
