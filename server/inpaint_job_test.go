package server

import (
	"strings"
	"testing"
)

// TestInpaintJob checks that the native job API (the page's route) takes
// AUTOMATIC1111's inpainting fields through the same decoding as
// /sdapi/v1/img2img: with mask_blur 0 the unmasked right half keeps the init
// image's pixels exactly, the masked left half is repainted, and the
// parameters name the mask blur.
func TestInpaintJob(t *testing.T) {
	_, ts := newTest(t, Config{})
	src := r2(t, ts)
	init, _ := decodePNG(t, src)
	w, h := init.Bounds().Dx(), init.Bounds().Dy()
	left := maskB64(w, h, func(x, _ int) bool { return x < w/2 })
	var j map[string]any
	res := call(t, ts, "POST", "/api/jobs", `{"prompt":"a red circle","steps":3,"seed":7,"denoising_strength":1,
		"init_images":["data:image/png;base64,`+src+`"],"mask":"data:image/png;base64,`+left+`","mask_blur":0,
		"inpainting_fill":1,"inpaint_full_res":false}`, &j)
	if res.StatusCode != 202 {
		t.Fatalf("status %d: %v", res.StatusCode, j)
	}
	var v jobView
	waitFor(t, func() bool {
		call(t, ts, "GET", "/api/jobs/"+j["id"].(string), "", &v)
		return v.State == StateDone || v.State == StateFailed
	})
	if v.State != StateDone || len(v.Results) != 1 {
		t.Fatalf("state %s (%s), %d images", v.State, v.Error, len(v.Results))
	}
	out, params := decodePNG(t, v.Results[0].PNG)
	if !strings.Contains(params, "Mask blur: 0") || !strings.Contains(params, "Denoising strength: 1") {
		t.Errorf("parameters %q lack the img2img and mask settings", params)
	}
	checkLeftRepainted(t, out, init)
}

// TestInpaintJobBadInput: a bad inpainting field of a native job is a 400
// naming it, before anything is queued.
func TestInpaintJobBadInput(t *testing.T) {
	q, _ := fakeQueue(1, 4, nil)
	_, ts := newTest(t, Config{Queue: q})
	img := maskB64(64, 64, func(x, y int) bool { return (x+y)%2 == 0 })
	half := maskB64(64, 64, func(x, _ int) bool { return x < 32 })
	black := maskB64(64, 64, func(int, int) bool { return false })
	wide := maskB64(128, 32, func(x, _ int) bool { return x < 32 })
	for _, tc := range []struct{ body, field string }{
		{`"init_images":["` + img + `"],"mask":"%%%"`, "mask: not valid base64"},
		{`"init_images":["` + img + `"],"mask":"` + black + `"`, "mask"},
		{`"init_images":["` + img + `"],"mask":"` + wide + `"`, "mask"},
		{`"mask":"` + half + `"`, "mask: inpainting needs init_images"},
		{`"init_images":["` + img + `"],"mask":"` + half + `","mask_blur":-1`, "mask_blur"},
		{`"init_images":["` + img + `"],"mask":"` + half + `","inpainting_mask_invert":2`, "inpainting_mask_invert"},
		{`"init_images":["` + img + `"],"denoising_strength":0`, "denoising_strength"},
	} {
		var e struct {
			Error struct{ Message, Field string }
		}
		res := call(t, ts, "POST", "/api/jobs", `{"prompt":"x",`+tc.body+`}`, &e)
		if res.StatusCode != 400 || !strings.Contains(e.Error.Message, tc.field) {
			t.Errorf("%.60s: %d %q, want 400 naming %q", tc.body, res.StatusCode, e.Error.Message, tc.field)
		}
	}
}
