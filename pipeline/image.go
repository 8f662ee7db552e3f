package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"os"

	// The formats ReadImage reads: PNG, JPEG and WebP.
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/webp"
)

// Limits of the images ReadImage accepts. They are checked from the file's
// header before any pixel is decoded, so a small file that claims a huge
// image (a decompression bomb) is refused at once.
const (
	MaxImageSide   = 16384    // pixels a side
	MaxImagePixels = 64 << 20 // pixels in all (8192×8192)
	maxImageFile   = 1 << 30  // bytes of the file
)

// ReadImage reads an input image (img2img's init image, a mask) from a PNG,
// JPEG or WebP file, as users' other tools read it:
//
//   - its size is read from the header first, and refused past MaxImageSide
//     or MaxImagePixels;
//   - a JPEG's EXIF orientation is honoured (the picture is turned as it is
//     shown), as AUTOMATIC1111 and diffusers' load_image do
//     (ImageOps.exif_transpose);
//   - transparency is flattened onto white, as AUTOMATIC1111's img2img does
//     (its default img2img_background_color), so transparent pixels do not
//     show whatever colour they happen to store.
//
// The result is opaque, with its origin at (0, 0).
func ReadImage(path string) (image.Image, error) {
	img, err := DecodeImageFile(path)
	if err != nil {
		return nil, err
	}
	return flatten(img), nil
}

// DecodeImageFile is ReadImage without the flattening: the size checked
// from the header, PNG, JPEG or WebP, EXIF orientation honoured, and the
// alpha channel and bit depth kept as the file has them (what a mask reader
// needs). Its bounds may not start at (0, 0).
func DecodeImageFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s is empty (0 bytes), not an image", path)
	}
	if st.Size() > maxImageFile {
		return nil, fmt.Errorf("%s: %d bytes, larger than any image sdgo reads (%d)", path, st.Size(), maxImageFile)
	}
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PNG, JPEG or WebP image (%w)", path, err)
	}
	if err := checkImageSize(cfg.Width, cfg.Height); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, format, err)
	}
	orientation := 1
	if format == "jpeg" {
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			orientation = jpegOrientation(io.LimitReader(f, 1<<20))
		}
	}
	if orientation < 2 || orientation > 8 {
		return img, nil
	}
	b := img.Bounds()
	rgba := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	return orient(rgba, orientation), nil
}

// checkImageSize refuses sizes past the limits.
func checkImageSize(w, h int) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("the header says %d×%d pixels", w, h)
	case w > MaxImageSide || h > MaxImageSide || int64(w)*int64(h) > MaxImagePixels:
		return fmt.Errorf("%d×%d pixels is past sdgo's limit of %d pixels a side and %d Mpixels (scale it down first)",
			w, h, MaxImageSide, MaxImagePixels>>20)
	}
	return nil
}

// flatten draws img over white into a new opaque image at (0, 0).
func flatten(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(out, out.Rect, img, b.Min, draw.Over)
	return out
}

// orient turns img as EXIF orientation o (1…8) says the picture is shown.
func orient(img *image.NRGBA, o int) *image.NRGBA {
	if o < 2 || o > 8 {
		return img
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	ow, oh := w, h
	if o >= 5 { // 5…8 swap the sides
		ow, oh = h, w
	}
	out := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // turned 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored upside down
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // stored turned 90° anticlockwise: turn it clockwise
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // stored turned 90° clockwise: turn it anticlockwise
				dx, dy = y, w-1-x
			}
			copy(out.Pix[out.PixOffset(dx, dy):out.PixOffset(dx, dy)+4], img.Pix[img.PixOffset(x, y):img.PixOffset(x, y)+4])
		}
	}
	return out
}

// jpegOrientation returns the EXIF orientation tag (0x0112) of a JPEG
// stream, or 1 (as stored) when there is none or it cannot be read.
func jpegOrientation(r io.Reader) int {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil || hdr[0] != 0xFF || hdr[1] != 0xD8 {
		return 1
	}
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil || hdr[0] != 0xFF {
			return 1
		}
		marker, n := hdr[1], int(binary.BigEndian.Uint16(hdr[2:]))-2
		if n < 0 || marker == 0xDA || marker == 0xD9 { // start of scan: no EXIF before it
			return 1
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(r, seg); err != nil {
			return 1
		}
		if marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			o, err := exifOrientation(seg[6:])
			if err != nil {
				return 1
			}
			return o
		}
	}
}

// exifOrientation reads the orientation from a TIFF structure's first IFD.
func exifOrientation(t []byte) (int, error) {
	if len(t) < 8 {
		return 0, errors.New("short")
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, errors.New("bad byte order")
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 0, errors.New("bad IFD offset")
	}
	count := int(bo.Uint16(t[off:]))
	for i := 0; i < count; i++ {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			break
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o, nil
			}
		}
	}
	return 1, nil
}
