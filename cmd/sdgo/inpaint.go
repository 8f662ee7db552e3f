package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sdgo/sdgo/pipeline"
)

// inpaintFlags are the inpainting and outpainting flags of the generate
// command.
type inpaintFlags struct {
	mask, content, outpaint, outpaintFill string
	blur, padding                         int
	invert, fullRes, pasteBack            bool
	fs                                    *pflag.FlagSet
}

const inpaintUsage = `
Inpainting (-i IMAGE --mask MASK): repaints the white part of MASK (grey
levels ≥ 128; a mask with transparency uses its alpha, painted = repaint) and
keeps the rest. Inpainting models (9-channel U-Net, e.g. sd-v1-5-inpainting)
are detected and see what to keep; ordinary models are inpainted as diffusers
does. --strength defaults to 1 with a mask. The result is pasted back over the
original through the mask, so pixels outside it stay bit for bit (--paste-back=false
returns the whole regenerated frame, as diffusers does by default; a --mask-blur
of N blends the original's pixels within about 2.5·N of the mask's edge).
Outpainting (--outpaint L,T,R,B): pads the image by those pixels and repaints
the new border.`

// register adds the flags to fs.
func (f *inpaintFlags) register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.mask, "mask", "", "inpaint -i's image: repaint where this mask is white, keep where black")
	fs.IntVar(&f.blur, "mask-blur", 0, "inpainting: blur the mask by N pixels before binarising it (0: none, as diffusers; AUTOMATIC1111's 4 softens the pasted-back seam but blends the original's pixels within about 2.5·N of the mask)")
	fs.BoolVar(&f.invert, "invert-mask", false, "inpainting: repaint the black part of the mask instead")
	fs.BoolVar(&f.fullRes, "inpaint-full-res", false, "inpainting: repaint only the mask's area, at -W×-H (default: the model's size), and paste it back")
	fs.IntVar(&f.padding, "inpaint-full-res-padding", 32, "--inpaint-full-res: pixels of context around the mask")
	fs.StringVar(&f.content, "masked-content", "original", "what the masked area starts from: original, fill, latent-noise or latent-nothing (matters at --strength < 1 or with ordinary models)")
	fs.StringVar(&f.outpaint, "outpaint", "", "extend -i's image by L,T,R,B pixels (left, top, right, bottom) and paint the new border")
	fs.StringVar(&f.outpaintFill, "outpaint-fill", "edge", "what fills the --outpaint border before painting: edge (repeat the edge pixels) or a colour (#rrggbb, black, white, gray)")
	fs.BoolVar(&f.pasteBack, "paste-back", true, "inpainting: paste the result over the original through the mask (false: the whole regenerated frame, diffusers' default)")
}

// readMask decodes a mask file. (Kept apart so that it reads masks exactly
// as -i's images are read.)
func readMask(path string) (image.Image, error) {
	img, err := pipeline.DecodeImageFile(path)
	if err != nil {
		return nil, fmt.Errorf("--mask: %w", err)
	}
	return img, nil
}

// apply sets the inpainting options, padding the init image for --outpaint.
// f.width and f.height are -W and -H (0 if not given).
func (f *inpaintFlags) apply(o *pipeline.Options, width, height int) error {
	if f.mask == "" && f.outpaint == "" {
		return nil
	}
	if o.InitImage == nil {
		if f.mask != "" {
			return usagef("--mask needs -i/--init-img, the image to repaint")
		}
		return usagef("--outpaint needs -i/--init-img, the image to extend")
	}
	switch {
	case f.blur < 0 || f.blur > 256:
		return usagef("--mask-blur must be between 0 and 256, got %d", f.blur)
	case f.padding < 0:
		return usagef("--inpaint-full-res-padding must not be negative, got %d", f.padding)
	}
	fill, err := pipeline.ParseFill(f.content)
	if err != nil {
		return usagef("--masked-content: %v", err)
	}
	o.Inpaint = pipeline.Inpaint{MaskBlur: f.blur, InvertMask: f.invert, Fill: fill,
		FullRes: f.fullRes, FullResPadding: f.padding, NoPasteBack: !f.pasteBack}
	if f.mask != "" {
		if o.Mask, err = readMask(f.mask); err != nil {
			return usageError{err}
		}
	}
	if f.fs != nil && !f.fs.Changed("strength") {
		o.Strength = 1 // diffusers' default for inpainting
	}
	if f.outpaint != "" {
		pad, err := parsePadding(f.outpaint)
		if err != nil {
			return usagef("--outpaint: %v", err)
		}
		fillColour, err := parseOutpaintFill(f.outpaintFill)
		if err != nil {
			return usagef("--outpaint-fill: %v", err)
		}
		if f.mask != "" || f.invert {
			return usagef("--outpaint makes its own mask (the new border): pass neither --mask nor --invert-mask with it")
		}
		o.InitImage, o.Mask = pipeline.Outpaint(o.InitImage, pad, fillColour)
		if width == 0 && height == 0 { // the padded image's size, which must fit the model
			b := o.InitImage.Bounds()
			if err := checkPaddedSize(b.Dx(), b.Dy()); err != nil {
				return usagef("--outpaint %s: %v", f.outpaint, err)
			}
			o.Width, o.Height = b.Dx(), b.Dy()
		}
	}
	if f.fullRes && width == 0 && height == 0 {
		o.Width, o.Height = 0, 0 // the model's native size
	}
	if err := pipeline.CheckMask(*o); err != nil {
		if f.mask == "" {
			return usageError{fmt.Errorf("--outpaint: %w", err)}
		}
		return usageError{fmt.Errorf("--mask %s: %w", f.mask, err)}
	}
	return nil
}

// checkPaddedSize refuses an outpainted w×h whose sides are not multiples
// of 8: rounding them down, as -i's images are, would resize the whole
// picture and lose the original's pixels.
func checkPaddedSize(w, h int) error {
	if w%8 == 0 && h%8 == 0 {
		return nil
	}
	var fix []string
	for _, side := range []struct {
		n   int
		dir string
	}{{w, "across"}, {h, "down"}} {
		if side.n%8 != 0 {
			fix = append(fix, fmt.Sprintf("%d more or %d fewer pixels %s", 8-side.n%8, side.n%8, side.dir))
		}
	}
	return fmt.Errorf("the padded image is %dx%d, and its sides must be multiples of 8 to keep the original's pixels: "+
		"pad %s (or give -W and -H to resize it)", w, h, strings.Join(fix, " and "))
}

// parsePadding reads --outpaint's L,T,R,B.
func parsePadding(s string) (pipeline.Padding, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return pipeline.Padding{}, fmt.Errorf("want L,T,R,B (pixels to add left, top, right, bottom), got %q", s)
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 8192 {
			return pipeline.Padding{}, fmt.Errorf("%q is not a number of pixels between 0 and 8192 (in %q)", p, s)
		}
		v[i] = n
	}
	if v == [4]int{} {
		return pipeline.Padding{}, errors.New("all four paddings are 0: nothing to extend")
	}
	return pipeline.Padding{Left: v[0], Top: v[1], Right: v[2], Bottom: v[3]}, nil
}

// parseOutpaintFill returns nil for "edge", else the colour.
func parseOutpaintFill(s string) (color.Color, error) {
	switch s {
	case "edge":
		return nil, nil
	case "black":
		return color.NRGBA{0, 0, 0, 255}, nil
	case "white":
		return color.NRGBA{255, 255, 255, 255}, nil
	case "gray", "grey":
		return color.NRGBA{128, 128, 128, 255}, nil
	}
	if len(s) == 7 && s[0] == '#' {
		if v, err := strconv.ParseUint(s[1:], 16, 32); err == nil {
			return color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, nil
		}
	}
	return nil, fmt.Errorf("want edge, black, white, gray or #rrggbb, got %q", s)
}
