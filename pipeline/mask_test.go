package pipeline

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/vae"
)

// Resizing equals Pillow 9.4's Image.resize(size, LANCZOS) byte for byte
// (testdata/lanczos, made by Pillow): up, down, and both at once.
func TestResizeLanczos(t *testing.T) {
	src, err := vae.ReadImage(filepath.Join("testdata", "lanczos", "src.png"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := maskToGrey(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{32, 32}, {8, 6}, {40, 9}, {23, 40}, {7, 17}} {
		name := fmt.Sprintf("src_%dx%d.png", size[0], size[1])
		want, err := vae.ReadImage(filepath.Join("testdata", "lanczos", name))
		if err != nil {
			t.Fatal(err)
		}
		got := g.resize(size[0], size[1])
		for i, v := range got.pix {
			if w := want.(*image.Gray).Pix[i]; v != w {
				t.Errorf("%s: pixel %d,%d = %d, Pillow %d", name, i%got.w, i/got.w, v, w)
				break
			}
		}
	}
}

func TestLuma(t *testing.T) {
	// Pillow's convert("L") of these colours.
	for _, c := range []struct{ r, g, b, want int }{{10, 200, 30, 124}, {250, 0, 128, 89}, {0, 0, 255, 29}, {128, 128, 128, 128}, {255, 255, 255, 255}} {
		if got := luma(c.r, c.g, c.b); int(got) != c.want {
			t.Errorf("luma(%d, %d, %d) = %d, want %d", c.r, c.g, c.b, got, c.want)
		}
	}
}

// gray returns a w×h grey image with the rectangle r at level v, 0 elsewhere.
func gray(w, h int, r image.Rectangle, v uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetGray(x, y, color.Gray{v})
		}
	}
	return img
}

// Bad masks get one clear line each, as a *MaskError.
func TestBadMasks(t *testing.T) {
	init := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	coloured := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range coloured.Pix {
		coloured.Pix[i] = 255
	}
	coloured.Pix[4*40] = 0 // pixel (8, 1) is cyan
	for _, c := range []struct {
		name string
		mask image.Image
		inv  bool
		want string
	}{
		{"colour", coloured, false, "mask has coloured pixels: want black and white (white = repaint), grey levels, or an alpha channel (pixel 8,1 is rgb(0,255,255))"},
		{"empty", gray(32, 32, image.Rect(0, 0, 0, 0), 0), false, "mask has no white pixels"},
		{"grey below threshold", gray(32, 32, image.Rect(0, 0, 32, 32), 127), false, "mask has no white pixels"},
		{"all white", gray(32, 32, image.Rect(0, 0, 32, 32), 255), false, "mask is all white"},
		{"all black inverted", gray(32, 32, image.Rect(0, 0, 0, 0), 0), true, "mask is all white"},
		{"aspect", gray(64, 32, image.Rect(0, 0, 8, 8), 255), false, "mask is 64x32 but the image is 32x32: their aspect ratios differ"},
		{"zero size", image.NewGray(image.Rect(0, 0, 0, 0)), false, "mask is empty (0 pixels)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckMask(Options{Width: 32, Height: 32, InitImage: init, Inpaint: Inpaint{Mask: c.mask, InvertMask: c.inv}})
			var me *MaskError
			if !errors.As(err, &me) || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want a MaskError starting %q", err, c.want)
			}
		})
	}
}

func TestMaskModes(t *testing.T) {
	init := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	rect := image.Rect(4, 6, 20, 14)
	want := gray(32, 32, rect, 255)
	inputs := func(mask image.Image, p Inpaint) *inpaintInputs {
		t.Helper()
		p.Mask = mask
		in, err := prepareInpaint(Options{Width: 32, Height: 32, InitImage: init, Inpaint: p}, 2)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	same := func(what string, in *inpaintInputs, w *image.Gray, invert bool) {
		t.Helper()
		for i, v := range in.mask.Data {
			if wv := float32(w.Pix[i]) / 255; (v != wv) != invert && (v != 1-wv) == invert {
				t.Fatalf("%s: mask pixel %d = %g", what, i, v)
			}
		}
	}
	// Alpha: a transparent image with an opaque black stroke repaints the stroke.
	alpha := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			alpha.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 255})
		}
	}
	same("alpha", inputs(alpha, Inpaint{}), want, false)
	// RGB grey masks use their luma; 16-bit grey its high byte.
	rgb := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	g16 := image.NewGray16(image.Rect(0, 0, 32, 32))
	for i, v := range want.Pix {
		rgb.Pix[4*i], rgb.Pix[4*i+1], rgb.Pix[4*i+2], rgb.Pix[4*i+3] = v, v, v, 255
		g16.SetGray16(i%32, i/32, color.Gray16{uint16(v) * 257})
	}
	same("rgb", inputs(rgb, Inpaint{}), want, false)
	same("gray16", inputs(g16, Inpaint{}), want, false)
	same("invert", inputs(want, Inpaint{InvertMask: true}), want, true)
	// A mask of twice the size is resized to the image.
	same("resized", inputs(gray(64, 64, image.Rect(8, 12, 40, 28), 255), Inpaint{}), want, false)
	// Blur: symmetric, softens the overlay, keeps the binarised mask's
	// centre; far pixels stay 0.
	in := inputs(want, Inpaint{MaskBlur: 2})
	if in.overlay[10*32+12] != 255 || in.overlay[31*32+31] != 0 || in.overlay[10*32+3] == 0 || in.overlay[10*32+3] == 255 {
		t.Fatalf("blurred overlay row 10: %v", in.overlay[10*32:11*32])
	}
	for y := 0; y < 32; y++ {
		for x := 5; x < 12; x++ { // x range 4…19 is symmetric about 11.5 (x < 5 sees the reflected border)
			if a, b := in.overlay[y*32+x], in.overlay[y*32+23-x]; a != b {
				t.Fatalf("blur not symmetric: (%d,%d) %d vs %d", x, y, a, b)
			}
		}
	}
}

func TestLatentMask(t *testing.T) {
	// Nearest: the top-left pixel of each 2×2 block.
	mask := []float32{
		0, 1, 1, 0,
		0, 0, 1, 1,
		1, 0, 0, 0,
		0, 0, 0, 0,
	}
	got := latentMask(mask, 4, 4, 2, 2)
	if fmt.Sprint(got) != "[0 1 1 0]" {
		t.Fatalf("latent mask %v", got)
	}
}

func TestCropRegion(t *testing.T) {
	g := greyMask{w: 100, h: 80, pix: make([]uint8, 8000)}
	for y := 30; y < 40; y++ {
		for x := 50; x < 70; x++ {
			g.pix[y*100+x] = 200
		}
	}
	r := cropRegion(g, 4)
	if r != image.Rect(46, 26, 74, 44) {
		t.Fatalf("crop region %v", r)
	}
	// Widened to 1:1 around its centre; and pushed inside the image.
	if e := expandCrop(r, 64, 64, 100, 80); e != image.Rect(46, 21, 74, 49) {
		t.Fatalf("expanded %v", e)
	}
	if e := expandCrop(image.Rect(0, 0, 100, 10), 64, 64, 100, 80); e != image.Rect(0, 0, 100, 80) {
		t.Fatalf("expanded at the edge %v", e)
	}
}

// An RGB mask of another size is resized as diffusers' mask processor does
// it: its channels first (Pillow's Lanczos, TestResizeLanczos), then
// converted to luma (TestLuma); converting first rounds differently.
func TestResizeRGBMask(t *testing.T) {
	rgb := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := 0; i < 64*48; i++ { // near-grey, as JPEG leaves a grey mask
		v := uint8(i * 37 % 241) // ≤ 240: the offsets below do not wrap
		rgb.Pix[4*i], rgb.Pix[4*i+1], rgb.Pix[4*i+2], rgb.Pix[4*i+3] = v, v+uint8(i%5), v+uint8(i%3)*3, 255
	}
	g, err := maskToGrey(rgb)
	if err != nil {
		t.Fatal(err)
	}
	got := g.resize(24, 18)
	small := resizeRGB(rgb, 24, 18)
	lumaFirst := greyMask{w: 64, h: 48, pix: g.pix}.resize(24, 18)
	differ := 0
	for i, v := range got.pix {
		c := small.Pix[4*i : 4*i+3]
		if w := luma(int(c[0]), int(c[1]), int(c[2])); v != w {
			t.Fatalf("pixel %d,%d = %d, want %d (channels resized, then luma)", i%24, i/24, v, w)
		}
		if v != lumaFirst.pix[i] {
			differ++
		}
	}
	if differ == 0 {
		t.Error("luma-then-resize gives the same mask: the test does not tell the orders apart")
	}
}
