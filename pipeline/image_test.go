package pipeline

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngClaiming returns a valid 1×1 PNG whose header is rewritten to claim
// w×h pixels: a decompression bomb in 70 bytes.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// 8-byte signature, then the IHDR chunk: length, "IHDR", width, height, …, CRC.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestReadImageRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		path, want string
	}{
		{write("bomb.png", pngClaiming(t, 100000, 100000)), "100000×100000 pixels is past sdgo's limit"},
		{write("wide.png", pngClaiming(t, 20000, 1)), "past sdgo's limit"},
		{write("fake.png", []byte("this is not a PNG at all")), "not a PNG, JPEG or WebP image"},
		{write("empty.png", nil), "empty.png is empty (0 bytes), not an image"},
		{dir, "not a regular file"},
		{"/dev/zero", "not a regular file"},
		{filepath.Join(dir, "missing.png"), "no such file"},
	} {
		_, err := ReadImage(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
}

func TestReadImageFormats(t *testing.T) {
	img, err := ReadImage("testdata/gopher.webp")
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() == 0 || b.Dy() == 0 {
		t.Fatalf("webp: bounds %v", b)
	}

	// Transparent pixels are flattened onto white, whatever colour they store.
	dir := t.TempDir()
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 0})     // transparent black
	src.SetNRGBA(1, 0, color.NRGBA{255, 0, 0, 255}) // opaque red
	var buf bytes.Buffer
	png.Encode(&buf, src)
	p := filepath.Join(dir, "alpha.png")
	os.WriteFile(p, buf.Bytes(), 0o644)
	img, err = ReadImage(p)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, a := img.At(0, 0).RGBA(); r>>8 != 255 || g>>8 != 255 || b>>8 != 255 || a>>8 != 255 {
		t.Errorf("transparent pixel read as %v, want white", img.At(0, 0))
	}
	if r, g, _, _ := img.At(1, 0).RGBA(); r>>8 != 255 || g>>8 != 0 {
		t.Errorf("red pixel read as %v", img.At(1, 0))
	}
}

// jpegWithOrientation encodes img as JPEG with an EXIF APP1 segment
// carrying orientation o (big-endian TIFF, one IFD entry).
func jpegWithOrientation(t *testing.T, img image.Image, o uint16) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08") // header, IFD at 8
	tiff = binary.BigEndian.AppendUint16(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, 0x0112)
	tiff = binary.BigEndian.AppendUint16(tiff, 3) // SHORT
	tiff = binary.BigEndian.AppendUint32(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0) // value padding, next IFD 0
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1}
	app1 = binary.BigEndian.AppendUint16(app1, uint16(len(seg)+2))
	app1 = append(app1, seg...)
	b := buf.Bytes()
	return append(append(append([]byte{}, b[:2]...), app1...), b[2:]...)
}

// EXIF orientation is honoured, as AUTOMATIC1111 and diffusers do: a photo
// stored sideways with orientation 6 comes out upright.
func TestReadImageOrientation(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 32, 16)) // left half red, right half blue
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 16 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			src.SetNRGBA(x, y, c)
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		o          uint16
		w, h       int
		redAt      image.Point
		blueAt     image.Point
		orientedAs string
	}{
		{1, 32, 16, image.Pt(4, 8), image.Pt(28, 8), "as stored"},
		{6, 16, 32, image.Pt(8, 4), image.Pt(8, 28), "turned clockwise"},
		{8, 16, 32, image.Pt(8, 28), image.Pt(8, 4), "turned anticlockwise"},
		{3, 32, 16, image.Pt(28, 8), image.Pt(4, 8), "turned 180°"},
	} {
		p := filepath.Join(dir, "o.jpg")
		os.WriteFile(p, jpegWithOrientation(t, src, tc.o), 0o644)
		img, err := ReadImage(p)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("orientation %d: %v, want %d×%d", tc.o, b, tc.w, tc.h)
			continue
		}
		if r, _, b, _ := img.At(tc.redAt.X, tc.redAt.Y).RGBA(); r>>8 < 200 || b>>8 > 60 {
			t.Errorf("orientation %d (%s): %v at %v, want red", tc.o, tc.orientedAs, img.At(tc.redAt.X, tc.redAt.Y), tc.redAt)
		}
		if r, _, b, _ := img.At(tc.blueAt.X, tc.blueAt.Y).RGBA(); b>>8 < 200 || r>>8 > 60 {
			t.Errorf("orientation %d (%s): %v at %v, want blue", tc.o, tc.orientedAs, img.At(tc.blueAt.X, tc.blueAt.Y), tc.blueAt)
		}
	}
}

// DecodeImageFile keeps what ReadImage flattens: a mask's alpha.
func TestDecodeImageFileKeepsAlpha(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 0})
	var buf bytes.Buffer
	png.Encode(&buf, src)
	p := filepath.Join(t.TempDir(), "mask.png")
	os.WriteFile(p, buf.Bytes(), 0o644)
	img, err := DecodeImageFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Errorf("alpha %d, want 0", a)
	}
	if _, err := DecodeImageFile("/dev/zero"); err == nil {
		t.Error("/dev/zero accepted")
	}
	// Masks (--mask) are checked from the header too.
	bomb := filepath.Join(t.TempDir(), "bomb.png")
	os.WriteFile(bomb, pngClaiming(t, 100000, 100000), 0o644)
	if _, err := DecodeImageFile(bomb); err == nil || !strings.Contains(err.Error(), "past sdgo's limit") {
		t.Errorf("a mask claiming 100000×100000 pixels: %v", err)
	}
}
