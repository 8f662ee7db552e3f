package vae

import (
	"image"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
)

func TestToByte(t *testing.T) {
	for _, tc := range []struct {
		x    float32
		want uint8
	}{
		{-1, 0}, {-2, 0}, {1, 255}, {3, 255}, {0, 128}, // 0.5·255 = 127.5 rounds to even 128
		{2*(126.5/255) - 1, 126}, // 126.5 rounds to even 126, not 127
		{2*(0.6/255) - 1, 1},
	} {
		if got := toByte(tc.x); got != tc.want {
			t.Errorf("toByte(%g) = %d, want %d", tc.x, got, tc.want)
		}
	}
}

// TestToImagesPipeline checks the conversion against every image of the
// pipeline reference (diffusers' postprocess): all pixels must be equal.
func TestToImagesPipeline(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdata.Dir(t, "pipeline"), "runs", "*.safetensors"))
	if len(files) == 0 {
		t.Skip("no pipeline runs")
	}
	for _, p := range files {
		f := openRef(t, filepath.Join("pipeline", "runs", filepath.Base(p)))
		for _, pre := range []string{"w32.", "w16."} {
			x := refTensor(t, f, pre+"image")
			u8, shape, err := f.Int64s(pre + "image_u8") // (H, W, 3)
			if err != nil {
				t.Fatal(err)
			}
			imgs, err := ToImages(x)
			if err != nil {
				t.Fatal(err)
			}
			img, diff := imgs[0], 0
			for i, v := range u8 {
				p := i / 3
				if int64(img.Pix[4*p+i%3]) != v {
					diff++
				}
			}
			if diff > 0 || shape[0] != img.Rect.Dy() {
				t.Errorf("%s %s: %d of %d bytes differ", filepath.Base(p), pre, diff, len(u8))
			}
		}
	}
}

// TestImageToTensor checks preprocessing against the TAESD reference's
// photo_in (the photo's crop as RGB/255 in [0, 1]).
func TestImageToTensor(t *testing.T) {
	img, err := ReadImage(testdata.Path(t, "taesd/photo.png"))
	if err != nil {
		t.Fatal(err)
	}
	crop := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(3, 3, 147, 99))
	x := ImageToTensor(crop, 0, 0)
	for i, v := range x.Data {
		x.Data[i] = (v + 1) / 2
	}
	want := refTensor(t, openRef(t, "taesd/random_arch/io.safetensors"), "photo_in")
	compare(t, "photo_in", x, want, 1e-6)

	// Resizing gives the asked size and keeps the range.
	r := ImageToTensor(img, 64, 48)
	if !nn.SameShape(r.Shape, []int{1, 3, 48, 64}) {
		t.Fatalf("resized shape %v", r.Shape)
	}
	for _, v := range r.Data {
		if v < -1 || v > 1 {
			t.Fatalf("resized value %g outside [-1, 1]", v)
		}
	}
}
