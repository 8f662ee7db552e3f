package pipeline

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/rng"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// Inpainting: repaint the masked part of an image, as diffusers'
// StableDiffusionInpaintPipeline does (../shared/testdata/inpaint/README.md),
// with AUTOMATIC1111's settings on top (mask blur, inversion, "only masked"
// full-resolution inpainting, masked content, paste-back).
//
// Two kinds of U-Net:
//   - inpainting models (runwayml's sd-1.5-inpainting, SD 2 inpainting):
//     conv_in takes 9 channels, the latents, the mask and the masked image's
//     latents; the model sees what it must keep;
//   - ordinary models (4 channels): after every step the kept part of the
//     latents is replaced by the original's latents noised to the next step's
//     level, so only the masked part is generated.

// IsInpainting reports whether the model's U-Net is an inpainting U-Net
// (conv_in takes 9 channels: latents, mask, masked-image latents).
func (m *Model) IsInpainting() bool { return m.UNet.Config.InChannels == m.latentChannels()*2+1 }

// latentChannels is the number of latent channels (4 for SD).
func (m *Model) latentChannels() int { return m.UNet.Config.OutChannels }

// inChannelsFromWeights sets cfg.InChannels from conv_in's weight, which
// decides it: a single file carries no config, and an inpainting single file
// may come with a 4-channel model's config folder (diffusers'
// from_single_file infers "inpainting" from this shape too).
func inChannelsFromWeights(src weights.Source, inChannels *int) {
	if in, ok := src.Info("conv_in.weight"); ok && len(in.Shape) == 4 {
		*inChannels = in.Shape[1]
	}
}

// inpaintInputs are an inpainting's inputs at the generation size W×H.
type inpaintInputs struct {
	image      *nn.Tensor // (1, 3, H, W) init image in [-1, 1]; nil for txt2img on an inpainting model
	fillImage  *nn.Tensor // (1, 3, H, W) the image encoded for the start (image, or FillBlur's)
	mask       *nn.Tensor // (1, 1, H, W) binarised: 1 = repaint
	maskLatent *nn.Tensor // (1, 1, H/f, W/f)
	masked     *nn.Tensor // (1, 3, H, W) image·(mask < 0.5)

	// Paste-back: the picture the result goes into, its mask, and (full
	// resolution) the rectangle the W×H result is resized into.
	original *image.NRGBA
	overlay  []uint8
	crop     image.Rectangle
}

// MaskError is an error in Options.Mask: a mask that is coloured, empty,
// all white or of another aspect ratio than the image.
type MaskError struct{ Err error }

func (e *MaskError) Error() string { return e.Err.Error() }
func (e *MaskError) Unwrap() error { return e.Err }

// checkInpaint validates the inpainting options.
func (m *Model) checkInpaint(o Options) error {
	switch {
	case o.Mask != nil && o.InitImage == nil:
		return errors.New("a mask needs an init image to repaint")
	case o.MaskBlur < 0 || o.MaskBlur > 256:
		return fmt.Errorf("mask blur must be between 0 and 256 pixels, got %d", o.MaskBlur)
	case o.FullResPadding < 0:
		return fmt.Errorf("full-resolution inpainting padding must not be negative, got %d", o.FullResPadding)
	}
	if _, err := ParseFill(string(o.Fill)); err != nil {
		return err
	}
	if o.Mask != nil {
		_, err := prepareInpaint(o, m.VAEFactor())
		return err
	}
	return nil
}

// CheckMask checks o.Mask against o.InitImage without a model, as
// Generate will (a *MaskError says what is wrong with the mask), so that
// callers can reject a bad mask before loading one. Width and Height of 0
// stand for the image's size.
func CheckMask(o Options) error {
	if o.Mask == nil || o.InitImage == nil {
		return nil
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = o.InitImage.Bounds().Dx(), o.InitImage.Bounds().Dy()
	}
	_, err := prepareInpaint(o, 1)
	return err
}

// prepareInpaint preprocesses the image and mask at the generation size,
// for a VAE of scale factor f.
func prepareInpaint(o Options, f int) (*inpaintInputs, error) {
	W, H := o.Width, o.Height
	in := &inpaintInputs{}
	if o.Mask == nil {
		// An inpainting model without a mask repaints everything: mask of
		// ones, masked image of zeros (AUTOMATIC1111 does the same).
		in.mask = nn.New(1, 1, H, W)
		for i := range in.mask.Data {
			in.mask.Data[i] = 1
		}
		in.maskLatent = nn.From(latentMask(in.mask.Data, W, H, W/f, H/f), 1, 1, H/f, W/f)
		in.masked = nn.New(1, 3, H, W)
		if o.InitImage != nil {
			in.original = resizeRGB(toNRGBA(o.InitImage), W, H)
			in.image = vae.ImageToTensor(in.original, W, H)
			in.fillImage = in.image
		}
		return in, nil
	}
	img := toNRGBA(o.InitImage)
	iw, ih := img.Rect.Dx(), img.Rect.Dy()
	g, err := maskToGrey(o.Mask)
	if err != nil {
		return nil, &MaskError{err}
	}
	if !sameAspect(g.w, g.h, iw, ih) {
		return nil, &MaskError{fmt.Errorf("mask is %dx%d but the image is %dx%d: their aspect ratios differ, so the mask cannot cover the image", g.w, g.h, iw, ih)}
	}
	var gen greyMask // the mask at W×H
	if o.FullRes {
		// AUTOMATIC1111's "Only masked": repaint the mask's bounding box
		// (plus padding, widened to W:H) at W×H, then shrink it back into
		// the image.
		g = g.resize(iw, ih)
		if o.InvertMask {
			g.invert()
		}
		g.gaussianBlur(o.MaskBlur)
		if err := g.check(); err != nil {
			return nil, &MaskError{err}
		}
		in.original, in.overlay = img, g.pix
		in.crop = expandCrop(cropRegion(g, o.FullResPadding), W, H, iw, ih)
		crop := greyMask{w: in.crop.Dx(), h: in.crop.Dy(), pix: make([]uint8, in.crop.Dx()*in.crop.Dy())}
		for y := 0; y < crop.h; y++ {
			copy(crop.pix[y*crop.w:(y+1)*crop.w], g.pix[(in.crop.Min.Y+y)*g.w+in.crop.Min.X:])
		}
		gen = crop.resize(W, H)
		img = resizeRGB(img.SubImage(in.crop).(*image.NRGBA), W, H)
	} else {
		g = g.resize(W, H)
		if o.InvertMask {
			g.invert()
		}
		g.gaussianBlur(o.MaskBlur)
		if err := g.check(); err != nil {
			return nil, &MaskError{err}
		}
		gen = g
		img = resizeRGB(img, W, H)
		in.original, in.overlay = img, g.overlayMask(o.MaskBlur > 0)
	}
	bin, _ := gen.binary()
	in.image = vae.ImageToTensor(img, W, H) // (1, 3, H, W) in [-1, 1]
	in.mask = nn.From(bin, 1, 1, H, W)
	in.maskLatent = nn.From(latentMask(bin, W, H, W/f, H/f), 1, 1, H/f, W/f)
	in.masked = nn.New(1, 3, H, W)
	plane := W * H
	for c := 0; c < 3; c++ {
		for p, mv := range bin {
			in.masked.Data[c*plane+p] = in.image.Data[c*plane+p] * boolTo32(mv < 0.5)
		}
	}
	in.fillImage = in.image
	if o.Fill == FillBlur {
		in.fillImage = vae.ImageToTensor(fillMasked(img, bin), W, H)
	}
	return in, nil
}

func boolTo32(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// inpainting is one image's inpainting state during sampling.
type inpainting struct {
	in     *inpaintInputs
	nine   bool       // 9-channel U-Net
	x0, xT *nn.Tensor // (1, 4, h, w): the image's latents and the initial noise (4-channel blend)
	masked *nn.Tensor // (1, 4, h, w): the masked image's latents (9-channel)
	input  *nn.Tensor // (1, 9, h, w) U-Net input buffer
	tmp    []float32
	opts   Options
}

// startInpaint prepares an inpainting (or a generation with an inpainting
// model) and returns it with the initial latents and the first step, drawing
// from noise in diffusers' order: the init image's ε (when the image is
// encoded), x_T, the masked image's ε (drawn for a 4-channel U-Net too).
func (m *Model) startInpaint(o Options, sched scheduler.Scheduler, noise rng.Source, index int) (*inpainting, *nn.Tensor, int, error) {
	in, err := prepareInpaint(o, m.VAEFactor())
	if err != nil {
		return nil, nil, 0, err
	}
	f, c := m.VAEFactor(), m.latentChannels()
	shape := []int{1, c, o.Height / f, o.Width / f}
	ip := &inpainting{in: in, nine: m.IsInpainting(), opts: o}
	o.Stages.add(index, "mask", in.mask)
	o.Stages.add(index, "mask_latent", in.maskLatent)
	o.Stages.add(index, "masked_image", in.masked)

	first := 0
	pureNoise := in.image == nil || o.Strength == 1 // diffusers' is_strength_max
	if in.image != nil {
		first = sched.Start(o.Strength)
	}
	if !ip.nine || !pureNoise {
		dist, err := m.VAE.Encode(in.fillImage)
		if err != nil {
			return nil, nil, 0, err
		}
		ip.x0 = m.VAE.Scale(dist.Sample(noise)) // (1, 4, h, w), the U-Net's latent scale
	}
	ip.xT = nn.New(shape...)
	if o.Latents != nil && index == 0 {
		if !nn.SameShape(o.Latents.Shape, shape) {
			return nil, nil, 0, fmt.Errorf("initial latents have shape %v, want %v", o.Latents.Shape, shape)
		}
		copy(ip.xT.Data, o.Latents.Data)
	} else {
		noise.Normal(ip.xT.Data) // x_T ~ N(0, I)
	}
	latents := nn.New(shape...)
	if ip.nine {
		dist, err := m.VAE.Encode(in.masked)
		if err != nil {
			return nil, nil, 0, err
		}
		ip.masked = m.VAE.Scale(dist.Sample(noise)) // (1, 4, h, w)
		o.Stages.add(index, "masked_image_latents", ip.masked)
		ip.input = nn.New(1, 2*c+1, shape[2], shape[3])
	} else {
		noise.Normal(make([]float32, len(latents.Data))) // diffusers encodes the masked image even so
	}
	if ip.x0 != nil {
		ip.fill(noise)
		o.Stages.add(index, "image_latents", ip.x0)
	}
	switch {
	case pureNoise:
		copy(latents.Data, ip.xT.Data)
		nn.Scale(latents, float32(sched.InitNoiseSigma()))
	case first < len(sched.Timesteps()):
		if err := sched.AddNoise(first, latents.Data, ip.x0.Data, ip.xT.Data); err != nil {
			return nil, nil, 0, err
		}
	default:
		copy(latents.Data, ip.x0.Data) // strength so low that no step runs
	}
	ip.tmp = make([]float32, len(latents.Data))
	return ip, latents, first, nil
}

// fill applies the latent fills (AUTOMATIC1111's "latent noise" and "latent
// nothing") to the masked part of the image's latents.
func (ip *inpainting) fill(noise rng.Source) {
	var src []float32
	switch ip.opts.Fill {
	case FillLatentNoise:
		src = make([]float32, len(ip.x0.Data))
		noise.Normal(src)
	case FillLatentNothing:
		src = make([]float32, len(ip.x0.Data))
	default:
		return
	}
	plane := len(ip.in.maskLatent.Data)
	for i := range ip.x0.Data {
		if ip.in.maskLatent.Data[i%plane] >= 0.5 {
			ip.x0.Data[i] = src[i]
		}
	}
}

// modelInput returns the U-Net's input for the scaled latents x (1, 4, h, w):
// x itself for a 4-channel U-Net; cat(x, mask, masked-image latents) →
// (1, 9, h, w) for an inpainting U-Net (only x is scaled by the scheduler).
func (ip *inpainting) modelInput(x *nn.Tensor) *nn.Tensor {
	if ip == nil || !ip.nine {
		return x
	}
	n := len(x.Data)
	copy(ip.input.Data, x.Data)
	copy(ip.input.Data[n:], ip.in.maskLatent.Data)
	copy(ip.input.Data[n+len(ip.in.maskLatent.Data):], ip.masked.Data)
	return ip.input
}

// blend runs after step i of a 4-channel U-Net: the kept part of the latents
// becomes the image's latents noised to the next step's level (the last
// step: the image's latents), with the same x_T:
// latents = (1 − mask)·noised + mask·latents.
func (ip *inpainting) blend(sched scheduler.Scheduler, i int, latents *nn.Tensor) error {
	if ip == nil || ip.nine {
		return nil
	}
	if err := sched.AddNoise(i+1, ip.tmp, ip.x0.Data, ip.xT.Data); err != nil {
		return err
	}
	plane := len(ip.in.maskLatent.Data)
	for j := range latents.Data {
		mv := ip.in.maskLatent.Data[j%plane]
		latents.Data[j] = (1-mv)*ip.tmp[j] + mv*latents.Data[j]
	}
	return nil
}

// finish pastes the generated image back into the original: where the mask
// keeps, the original's pixels come back bit for bit (unless NoPasteBack);
// in full-resolution mode the result is shrunk into the mask's region.
func (ip *inpainting) finish(img *image.NRGBA) *image.NRGBA {
	if ip == nil || ip.in.original == nil || ip.opts.Mask == nil {
		return img
	}
	in := ip.in
	if in.crop.Empty() && img.Rect.Size() != in.original.Rect.Size() {
		img = resizeRGB(img, in.original.Rect.Dx(), in.original.Rect.Dy()) // a decoder of another scale (TAESD on a small VAE)
	}
	if !in.crop.Empty() {
		full := image.NewNRGBA(in.original.Rect)
		copy(full.Pix, in.original.Pix)
		small := resizeRGB(img, in.crop.Dx(), in.crop.Dy())
		draw.Draw(full, in.crop, small, image.Point{}, draw.Src)
		img = full
	}
	if ip.opts.NoPasteBack {
		return img
	}
	return pasteBack(in.original, img, in.overlay)
}

// cropRegion is AUTOMATIC1111's masking.get_crop_region: the bounding box
// of the mask's non-zero pixels, grown by pad on every side within the image.
func cropRegion(g greyMask, pad int) image.Rectangle {
	x0, y0, x1, y1 := g.w, g.h, 0, 0
	for i, v := range g.pix {
		if v == 0 {
			continue
		}
		x, y := i%g.w, i/g.w
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
	}
	return image.Rect(max(x0-pad, 0), max(y0-pad, 0), min(x1+pad, g.w), min(y1+pad, g.h))
}

// expandCrop is AUTOMATIC1111's masking.expand_crop_region: the crop grown
// along one axis to the aspect ratio w:h, kept inside the iw×ih image.
func expandCrop(r image.Rectangle, w, h, iw, ih int) image.Rectangle {
	x1, y1, x2, y2 := r.Min.X, r.Min.Y, r.Max.X, r.Max.Y
	ratioCrop := float64(x2-x1) / float64(y2-y1)
	ratioProc := float64(w) / float64(h)
	if ratioCrop > ratioProc {
		desired := float64(x2-x1) / ratioProc
		diff := int(desired - float64(y2-y1))
		y1 -= diff / 2
		y2 += diff - diff/2
		if y2 >= ih {
			d := y2 - ih
			y2 -= d
			y1 -= d
		}
		if y1 < 0 {
			y2 -= y1
			y1 = 0
		}
		y2 = min(y2, ih)
	} else {
		desired := float64(y2-y1) * ratioProc
		diff := int(desired - float64(x2-x1))
		x1 -= diff / 2
		x2 += diff - diff/2
		if x2 >= iw {
			d := x2 - iw
			x2 -= d
			x1 -= d
		}
		if x1 < 0 {
			x2 -= x1
			x1 = 0
		}
		x2 = min(x2, iw)
	}
	return image.Rect(x1, y1, x2, y2)
}

// fillMasked is AUTOMATIC1111's "fill" masked content (masking.fill): the
// masked pixels are painted with ever less blurred averages of the kept
// pixels around them (blur radii 256, 64, 16, 4, 2, 0 composited one over
// the other), so the encoder sees plausible colours instead of the object
// being removed. Box blurs stand in for Pillow's Gaussian ones.
func fillMasked(img *image.NRGBA, mask []float32) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	n := w * h
	// Premultiplied planes of the kept pixels: R·a, G·a, B·a, a.
	keep := make([][]float64, 4)
	for c := range keep {
		keep[c] = make([]float64, n)
	}
	for p := 0; p < n; p++ {
		a := float64(1 - mask[p])
		for c := 0; c < 3; c++ {
			keep[c][p] = float64(img.Pix[4*p+c]) * a
		}
		keep[3][p] = a
	}
	out := make([][]float64, 4) // premultiplied RGBA, starting transparent
	for c := range out {
		out[c] = make([]float64, n)
	}
	for _, step := range []struct{ radius, repeats int }{{256, 1}, {64, 1}, {16, 2}, {4, 4}, {2, 2}, {0, 1}} {
		bl := make([][]float64, 4)
		for c := range bl {
			bl[c] = boxBlur(keep[c], w, h, step.radius)
		}
		for r := 0; r < step.repeats; r++ {
			for p := 0; p < n; p++ {
				a := bl[3][p]
				for c := 0; c < 4; c++ { // premultiplied "over"
					out[c][p] = bl[c][p] + out[c][p]*(1-a)
				}
			}
		}
	}
	res := image.NewNRGBA(img.Rect)
	copy(res.Pix, img.Pix)
	for p := 0; p < n; p++ {
		if mask[p] < 0.5 || out[3][p] <= 0 {
			continue
		}
		for c := 0; c < 3; c++ {
			res.Pix[4*p+c] = uint8(min(max(out[c][p]/out[3][p]+0.5, 0), 255))
		}
	}
	return res
}

// boxBlur blurs a plane with three passes of a (2r+1)-wide box along each
// axis (about a Gaussian of σ ≈ r), edges extended.
func boxBlur(src []float64, w, h, r int) []float64 {
	out := append([]float64(nil), src...)
	if r <= 0 {
		return out
	}
	tmp := make([]float64, len(src))
	line := func(dst, s []float64, n, off, step int) {
		at := func(j int) float64 { return s[off+min(max(j, 0), n-1)*step] }
		sum := 0.0
		for j := -r; j <= r; j++ {
			sum += at(j)
		}
		for i := 0; i < n; i++ { // a running sum over the window i−r … i+r
			dst[off+i*step] = sum / float64(2*r+1)
			sum += at(i+r+1) - at(i-r)
		}
	}
	for pass := 0; pass < 3; pass++ {
		for y := 0; y < h; y++ {
			line(tmp, out, w, y*w, 1)
		}
		for x := 0; x < w; x++ {
			line(out, tmp, h, x, w)
		}
	}
	return out
}

// Inpaint are the inpainting settings of [Options] (embedded in it). The
// comments name AUTOMATIC1111's /sdapi/v1/img2img fields they correspond to.
type Inpaint struct {
	// Mask (A1111 "mask") makes inpainting of InitImage: white repaints,
	// black keeps; grey levels ≥ 128 repaint (diffusers' binarisation). A
	// mask with a not fully opaque alpha channel uses its alpha instead
	// (painted = repaint). A mask of another size with the image's aspect
	// ratio is resized (Pillow's Lanczos, as diffusers). The image is
	// generated at Width×Height (the image and mask resized to it; 0: the
	// model's native size, as diffusers). Options.Strength applies as in
	// img2img; diffusers' default for inpainting is 1.
	Mask image.Image
	// MaskBlur (A1111 "mask_blur", pixels) blurs the mask with a Gaussian
	// of this σ before it is binarised; the blurred mask also softens the
	// paste-back's edge. 0: no blur (diffusers).
	MaskBlur int
	// InvertMask (A1111 "inpainting_mask_invert" = 1) repaints the black part.
	InvertMask bool
	// Fill (A1111 "inpainting_fill", see FillFromA1111) is what the masked
	// area starts from; "" is FillOriginal (diffusers).
	Fill Fill
	// FullRes (A1111 "inpaint_full_res") repaints only the mask's bounding
	// box, grown by FullResPadding pixels (A1111 "inpaint_full_res_padding")
	// and to the aspect ratio Width:Height, at Width×Height, then shrinks the
	// result back into the image: the output has the image's own size.
	FullRes        bool
	FullResPadding int
	// NoPasteBack returns the whole decoded frame, as diffusers'
	// StableDiffusionInpaintPipeline does by default. By default (as
	// AUTOMATIC1111, which has no such setting) the result is pasted over
	// the original through the mask, so kept pixels stay bit for bit.
	NoPasteBack bool
}

// parameters renders the inpainting settings in AUTOMATIC1111's
// parameters text ("" without a mask).
func (p Inpaint) parameters() string {
	if p.Mask == nil {
		return ""
	}
	s := fmt.Sprintf(", Mask blur: %d", p.MaskBlur)
	if p.InvertMask {
		s += ", Mask mode: Inpaint not masked"
	}
	if p.Fill != "" && p.Fill != FillOriginal {
		s += ", Masked content: " + string(p.Fill)
	}
	if p.FullRes {
		s += fmt.Sprintf(", Inpaint area: Only masked, Masked area padding: %d", p.FullResPadding)
	}
	return s
}

// Padding is how many pixels outpainting adds on each side.
type Padding struct{ Left, Top, Right, Bottom int }

// Outpaint prepares outpainting: it pads img by p, repeating its edge
// pixels (numpy's pad(mode="edge"), as diffusers' outpainting examples do)
// or, when fill is not nil, with that colour, and returns the padded image
// with its mask, white on the new border and black over the image. Inpaint
// them (Options.InitImage and Options.Mask) to paint the border.
func Outpaint(img image.Image, p Padding, fill color.Color) (*image.NRGBA, *image.Gray) {
	b := img.Bounds()
	w, h := b.Dx()+p.Left+p.Right, b.Dy()+p.Top+p.Bottom
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	m := image.NewGray(out.Rect)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sx, sy := x-p.Left, y-p.Top
			inside := sx >= 0 && sy >= 0 && sx < b.Dx() && sy < b.Dy()
			c := fill
			if inside || fill == nil {
				c = img.At(b.Min.X+min(max(sx, 0), b.Dx()-1), b.Min.Y+min(max(sy, 0), b.Dy()-1))
			}
			nc := color.NRGBAModel.Convert(c).(color.NRGBA)
			nc.A = 255
			out.SetNRGBA(x, y, nc)
			if !inside {
				m.SetGray(x, y, color.Gray{255})
			}
		}
	}
	return out, m
}
