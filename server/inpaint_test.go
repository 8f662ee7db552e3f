package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/pipeline"
)

// maskB64 returns a w×h PNG mask, white where white(x, y), as base64.
func maskB64(w, h int, white func(x, y int) bool) string {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if white(x, y) {
				m.SetGray(x, y, color.Gray{255})
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestInpaintRoute checks AUTOMATIC1111's inpainting fields of
// /sdapi/v1/img2img: the left half is repainted, the right half keeps the
// init image's pixels exactly (paste-back), and the reply leaves the mask
// out of its echo as A1111 does.
func TestInpaintRoute(t *testing.T) {
	_, ts := newTest(t, Config{})
	src := r2(t, ts)
	init, _ := decodePNG(t, src)
	w, h := init.Bounds().Dx(), init.Bounds().Dy()
	left := maskB64(w, h, func(x, _ int) bool { return x < w/2 })
	var r a1111Reply
	res := call(t, ts, "POST", "/sdapi/v1/img2img", `{"prompt":"a red circle","steps":3,"seed":7,"denoising_strength":1,
		"init_images":["`+src+`"],"mask":"`+left+`","mask_blur":0,"inpainting_fill":1,"inpaint_full_res":false}`, &r)
	if res.StatusCode != 200 || len(r.Images) != 1 {
		t.Fatalf("status %d, %d images", res.StatusCode, len(r.Images))
	}
	out, params := decodePNG(t, r.Images[0])
	if !strings.Contains(params, "Mask blur: 0") {
		t.Errorf("parameters %q lack the mask settings", params)
	}
	checkLeftRepainted(t, out, init)
	if r.Parameters["mask"] != nil {
		t.Errorf("mask echoed back")
	}

	// inpainting_mask_invert 1 repaints the black part: a mask white on the
	// right half repaints the left half.
	right := maskB64(w, h, func(x, _ int) bool { return x >= w/2 })
	res = call(t, ts, "POST", "/sdapi/v1/img2img", `{"prompt":"a red circle","steps":3,"seed":7,"denoising_strength":1,
		"init_images":["`+src+`"],"mask":"`+right+`","mask_blur":0,"inpainting_fill":1,"inpaint_full_res":false,
		"inpainting_mask_invert":1}`, &r)
	if res.StatusCode != 200 || len(r.Images) != 1 {
		t.Fatalf("inverted: status %d, %d images", res.StatusCode, len(r.Images))
	}
	out, params = decodePNG(t, r.Images[0])
	if !strings.Contains(params, "Mask mode: Inpaint not masked") {
		t.Errorf("inverted: parameters %q", params)
	}
	checkLeftRepainted(t, out, init)
}

// The inpainting fields map to pipeline.Inpaint, absent ones taking
// AUTOMATIC1111's defaults (mask blur 4, fill 0, full resolution on,
// padding 0, not inverted).
func TestInpaintFields(t *testing.T) {
	half := maskB64(64, 64, func(x, _ int) bool { return x < 32 })
	for _, tc := range []struct {
		body string
		want pipeline.Inpaint
	}{
		{`{}`, pipeline.Inpaint{}},
		{`{"mask":"` + half + `"}`, pipeline.Inpaint{MaskBlur: 4, Fill: pipeline.FillBlur, FullRes: true}},
		{`{"mask":"` + half + `","mask_blur":0,"inpainting_fill":3,"inpaint_full_res":false,"inpaint_full_res_padding":12,"inpainting_mask_invert":1}`,
			pipeline.Inpaint{MaskBlur: 0, Fill: pipeline.FillLatentNothing, FullResPadding: 12, InvertMask: true}},
		{`{"mask":"` + half + `","inpainting_fill":2,"inpaint_full_res":true}`, pipeline.Inpaint{MaskBlur: 4, Fill: pipeline.FillLatentNoise, FullRes: true}},
		{`{"mask":"` + half + `","inpainting_fill":1}`, pipeline.Inpaint{MaskBlur: 4, Fill: pipeline.FillOriginal, FullRes: true}},
	} {
		var p inpaintRequest
		if err := json.Unmarshal([]byte(tc.body), &p); err != nil {
			t.Fatal(err)
		}
		got, err := p.inpaint(2048)
		if err != nil {
			t.Fatalf("%.60s: %v", tc.body, err)
		}
		if (got.Mask != nil) != (p.Mask != "") {
			t.Errorf("%.60s: mask decoded %v", tc.body, got.Mask != nil)
		}
		got.Mask = nil
		if got != tc.want {
			t.Errorf("%.60s: %+v, want %+v", tc.body, got, tc.want)
		}
	}
}

func TestInpaintBadInput(t *testing.T) {
	q, _ := fakeQueue(1, 4, nil)
	_, ts := newTest(t, Config{Queue: q})
	img := maskB64(64, 64, func(x, y int) bool { return (x+y)%2 == 0 })
	half := maskB64(64, 64, func(x, _ int) bool { return x < 32 })
	black := maskB64(64, 64, func(int, int) bool { return false })
	white := maskB64(64, 64, func(int, int) bool { return true })
	wide := maskB64(128, 32, func(x, _ int) bool { return x < 32 })
	for _, tc := range []struct{ body, field string }{
		{`"mask":"%%%"`, "mask: not valid base64"},
		{`"mask":"` + black + `"`, "mask has no white pixels"},
		{`"mask":"` + white + `"`, "mask is all white"},
		{`"mask":"` + wide + `"`, "mask is 128x32 but the image is 64x64"},
		{`"mask":"` + colouredB64(64, 64) + `"`, "mask has coloured pixels"},
		{`"mask":"` + half + `","mask_blur":-1`, "mask_blur"},
		{`"mask":"` + half + `","inpainting_fill":7`, "inpainting_fill"},
		{`"mask":"` + half + `","inpainting_mask_invert":2`, "inpainting_mask_invert"},
		{`"mask":"` + half + `","inpaint_full_res_padding":-4`, "inpaint_full_res_padding"},
	} {
		var e map[string]any
		res := call(t, ts, "POST", "/sdapi/v1/img2img", `{"prompt":"x","init_images":["`+img+`"],`+tc.body+`}`, &e)
		msg, _ := e["detail"].(string)
		if res.StatusCode != 422 || !strings.Contains(msg, tc.field) || strings.Contains(msg, "\n") {
			t.Errorf("%.60s: %d %q, want 422 naming %q", tc.body, res.StatusCode, msg, tc.field)
		}
	}
}

// colouredB64 returns a w×h PNG with a red and a blue pixel on white, as base64.
func colouredB64(w, h int) string {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = 255
	}
	m.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	m.SetNRGBA(1, 0, color.NRGBA{0, 0, 255, 255})
	var b bytes.Buffer
	png.Encode(&b, m)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// checkLeftRepainted checks an inpainting result whose mask was the left
// half: the right half equals the init image bit for bit (paste-back), the
// left half changed.
func checkLeftRepainted(t *testing.T, out, init *image.NRGBA) {
	t.Helper()
	if out.Bounds() != init.Bounds() {
		t.Fatalf("size %v, want %v", out.Bounds(), init.Bounds())
	}
	w, h := init.Bounds().Dx(), init.Bounds().Dy()
	changed := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a, b := out.NRGBAAt(x, y), init.NRGBAAt(x, y)
			switch {
			case x >= w/2 && a != b:
				t.Fatalf("kept pixel (%d,%d) = %v, want the init image's %v", x, y, a, b)
			case x < w/2 && a != b:
				changed++
			}
		}
	}
	if changed == 0 {
		t.Errorf("the masked half was not repainted")
	}
}
