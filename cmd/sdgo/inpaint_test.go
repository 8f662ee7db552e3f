package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

func writePNG(t *testing.T, path string, img image.Image) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readNRGBA(t *testing.T, path string) *image.NRGBA {
	t.Helper()
	img, err := vae.ReadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

// differing counts pixels that differ between a and b where keep(x, y).
func differing(a, b *image.NRGBA, keep func(x, y int) bool) int {
	n := 0
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			if keep(x, y) && a.NRGBAAt(x, y) != b.NRGBAAt(x, y) {
				n++
			}
		}
	}
	return n
}

func TestInpaintCommand(t *testing.T) {
	td := testdata.Dir(t, "inpaint")
	dir := t.TempDir()
	model := []string{"-m", filepath.Join(td, "sd_tiny_inpaint.fp16.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a red vase", "--steps", "2", "-q"}
	initPath, maskPath := filepath.Join(td, "init.png"), filepath.Join(td, "mask_rect.png")
	init := readNRGBA(t, initPath)
	inRect := func(x, y int) bool { return x >= 9 && x < 23 && y >= 7 && y < 21 } // mask_rect's white square

	// Paste-back (default): outside the mask the original, bit for bit.
	out := filepath.Join(dir, "inpaint.png")
	code, _, stderr := sdgo(append(model, "-i", initPath, "--mask", maskPath, "--mask-blur", "0", "-o", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := readNRGBA(t, out)
	if n := differing(got, init, func(x, y int) bool { return !inRect(x, y) }); n != 0 {
		t.Errorf("%d kept pixels changed", n)
	}
	if n := differing(got, init, inRect); n == 0 {
		t.Error("the masked square was not repainted")
	}
	params, _ := pipeline.ReadParameters(out)
	if !strings.Contains(params, "Denoising strength: 1, Mask blur: 0") {
		t.Errorf("parameters %q", params)
	}
	// Without paste-back the whole frame is regenerated.
	out2 := filepath.Join(dir, "frame.png")
	if code, _, stderr := sdgo(append(model, "-i", initPath, "--mask", maskPath, "--paste-back=false", "-o", out2)...); code != 0 {
		t.Fatalf("--paste-back=false: exit %d: %s", code, stderr)
	}
	if n := differing(readNRGBA(t, out2), init, func(x, y int) bool { return !inRect(x, y) }); n == 0 {
		t.Error("--paste-back=false kept the original pixels")
	}
	// Full-resolution inpainting at 16×16 keeps the image's size.
	out3 := filepath.Join(dir, "fullres.png")
	if code, _, stderr := sdgo(append(model, "-i", initPath, "--mask", maskPath, "--inpaint-full-res", "--inpaint-full-res-padding", "2",
		"-W", "16", "-H", "16", "--invert-mask", "--masked-content", "latent-nothing", "--strength", "0.5", "-o", out3)...); code != 0 {
		t.Fatalf("--inpaint-full-res: exit %d: %s", code, stderr)
	}
	if b := readNRGBA(t, out3).Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("full-res output %v, want 32×32", b)
	}
	// Outpainting 16 px to the right: 48×32, the original on the left.
	out4 := filepath.Join(dir, "outpaint.png")
	if code, _, stderr := sdgo(append(model, "-i", initPath, "--outpaint", "0,0,16,0", "--mask-blur", "0", "-o", out4)...); code != 0 {
		t.Fatalf("--outpaint: exit %d: %s", code, stderr)
	}
	op := readNRGBA(t, out4)
	if b := op.Bounds(); b.Dx() != 48 || b.Dy() != 32 {
		t.Fatalf("outpaint output %v, want 48×32", b)
	}
	if n := differing(op.SubImage(image.Rect(0, 0, 32, 32)).(*image.NRGBA), init, func(x, y int) bool { return true }); n != 0 {
		t.Errorf("outpainting changed %d original pixels", n)
	}

	// Bad masks: one line each, exit 2, naming the flag.
	white := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	red := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range red.Pix {
		red.Pix[i] = 255
	}
	red.SetNRGBA(3, 4, color.NRGBA{255, 0, 0, 255})
	bad := map[string]string{
		writePNG(t, filepath.Join(dir, "white.png"), white):                                   "mask is all white",
		writePNG(t, filepath.Join(dir, "black.png"), image.NewGray(image.Rect(0, 0, 32, 32))): "mask has no white pixels",
		writePNG(t, filepath.Join(dir, "red.png"), red):                                       "mask has coloured pixels",
		writePNG(t, filepath.Join(dir, "wide.png"), image.NewGray(image.Rect(0, 0, 64, 32))):  "mask is 64x32 but the image is 32x32",
		filepath.Join(dir, "missing.png"):                                                     "--mask",
		writeFile(t, filepath.Join(dir, "empty.png"), nil):                                    "empty.png is empty (0 bytes), not an image",
	}
	for path, want := range bad {
		code, _, stderr := sdgo(append(model, "-i", initPath, "--mask", path, "-o", filepath.Join(dir, "bad.png"))...)
		if code != 2 || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || !strings.Contains(stderr, "--mask") {
			t.Errorf("%s: exit %d, stderr %q, want one line with %q", filepath.Base(path), code, stderr, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mask", maskPath}, "--mask needs -i"},
		{[]string{"-i", initPath, "--outpaint", "1,2,3"}, "--outpaint: want L,T,R,B"},
		{[]string{"-i", initPath, "--outpaint", "0,0,0,0"}, "nothing to extend"},
		{[]string{"-i", initPath, "--outpaint", "0,0,10,0"}, "the padded image is 42x32, and its sides must be multiples of 8 to keep the original's pixels: pad 6 more or 2 fewer pixels across (or give -W and -H"},
		{[]string{"-i", initPath, "--outpaint", "1,2,3,4"}, "the padded image is 36x38, and its sides must be multiples of 8 to keep the original's pixels: pad 4 more or 4 fewer pixels across and 2 more or 6 fewer pixels down"},
		{[]string{"-i", initPath, "--outpaint", "0,0,8,0", "--mask", maskPath}, "makes its own mask"},
		{[]string{"-i", initPath, "--outpaint", "0,0,8,0", "--outpaint-fill", "purple"}, "--outpaint-fill"},
		{[]string{"-i", initPath, "--mask", maskPath, "--masked-content", "magic"}, "--masked-content"},
		{[]string{"-i", initPath, "--mask", maskPath, "--mask-blur", "-1"}, "--mask-blur"},
	} {
		code, _, stderr := sdgo(append(model, append(tc.args, "-o", filepath.Join(dir, "bad.png"))...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q, want one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}

// --outpaint's L,T,R,B.
func TestParsePadding(t *testing.T) {
	if p, err := parsePadding("1, 2,3,4"); err != nil || p != (pipeline.Padding{Left: 1, Top: 2, Right: 3, Bottom: 4}) {
		t.Fatalf("parsePadding: %v, %v", p, err)
	}
	for _, s := range []string{"1,2,3", "a,b,c,d", "-1,0,0,0", "0,0,0,0"} {
		if _, err := parsePadding(s); err == nil {
			t.Errorf("parsePadding(%q) accepted", s)
		}
	}
}

// The command with its default flags is diffusers' StableDiffusionInpaintPipeline:
// the reference's blob_ddim_4 run (grey-edged mask, strength 0.75) with the
// fp16 files gives the reference's image (--paste-back=false, the frame
// diffusers returns); pasted back (the default), the pixels where the mask
// is black are the original's, those where it is white the frame's.
func TestInpaintCommandReference(t *testing.T) {
	td := testdata.Dir(t, "inpaint")
	dir := t.TempDir()
	initPath, maskPath := filepath.Join(td, "init.png"), filepath.Join(td, "mask_blob.png")
	args := []string{"-m", filepath.Join(td, "sd_tiny_inpaint.fp16.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a red vase of flowers on a table", "--sampler", "ddim", "--steps", "4", "--strength", "0.75",
		"--cfg-scale", "7.5", "--seed", "42", "-q", "-i", initPath, "--mask", maskPath}
	frame, pasted := filepath.Join(dir, "frame.png"), filepath.Join(dir, "pasted.png")
	for _, a := range [][]string{{"--paste-back=false", "-o", frame}, {"-o", pasted}} {
		if code, _, stderr := sdgo(append(args, a...)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", a, code, stderr)
		}
	}
	ref, err := weights.Open(filepath.Join(td, "runs", "blob_ddim_4.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, shape, err := ref.Int64s("w16.image_u8") // (H, W, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := readNRGBA(t, frame)
	if b := got.Bounds(); b.Dx() != shape[1] || b.Dy() != shape[0] {
		t.Fatalf("frame %v, want %dx%d", b, shape[1], shape[0])
	}
	worst := 0
	for p := 0; p < shape[0]*shape[1]; p++ {
		for c := 0; c < 3; c++ {
			d := int(got.Pix[4*p+c]) - int(want[3*p+c])
			worst = max(worst, d, -d)
		}
	}
	if worst > 1 {
		t.Errorf("frame differs from diffusers' image by up to %d levels (> 1)", worst)
	}
	mask, err := vae.ReadImage(maskPath)
	if err != nil {
		t.Fatal(err)
	}
	init, out := readNRGBA(t, initPath), readNRGBA(t, pasted)
	m := mask.(*image.Gray)
	if n := differing(out, init, func(x, y int) bool { return m.GrayAt(x, y).Y == 0 }); n != 0 {
		t.Errorf("paste-back: %d pixels where the mask is black differ from the original", n)
	}
	if n := differing(out, got, func(x, y int) bool { return m.GrayAt(x, y).Y == 255 }); n != 0 {
		t.Errorf("paste-back: %d pixels where the mask is white differ from the frame", n)
	}
}

// --outpaint-fill's names and #rrggbb.
func TestParseOutpaintFill(t *testing.T) {
	for _, c := range []struct {
		s    string
		want color.Color
	}{
		{"edge", nil},
		{"black", color.NRGBA{0, 0, 0, 255}},
		{"white", color.NRGBA{255, 255, 255, 255}},
		{"grey", color.NRGBA{128, 128, 128, 255}},
		{"#12abEF", color.NRGBA{0x12, 0xab, 0xef, 255}},
	} {
		if got, err := parseOutpaintFill(c.s); err != nil || got != c.want {
			t.Errorf("parseOutpaintFill(%q) = %v, %v; want %v", c.s, got, err, c.want)
		}
	}
	for _, s := range []string{"", "purple", "#12345", "#12345g", "12abef"} {
		if _, err := parseOutpaintFill(s); err == nil {
			t.Errorf("parseOutpaintFill(%q) accepted", s)
		}
	}
}
