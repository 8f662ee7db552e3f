package server

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The page's image to image and inpainting in a real headless Chromium:
// upload an image, paint a stroke on the mask canvas over it with the mouse,
// Generate, and check that the result in the gallery was inpainted (its
// parameters name the mask blur and the strength) and that, with mask blur
// 0, the pixels away from the stroke are the uploaded image's. With
// SDGO_UPDATE_DOCS=1 the screenshot goes to docs/img/serve-inpaint.png.
func TestPageInpaintInBrowser(t *testing.T) {
	pg := newPage(t)
	_, ts := newTest(t, Config{})
	src := r2(t, ts)
	init, _ := decodePNG(t, src)
	data, _ := base64.StdEncoding.DecodeString(src)
	file := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	pg.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(ts.URL))
	pg.poll("the model name", `document.getElementById("model").textContent.includes("sd-mini")`)
	pg.do(chromedp.Click(chromedp.CSS("#img2img summary")),
		chromedp.SetUploadFiles(chromedp.ID("init-image"), []string{file}))
	pg.poll("the uploaded image under the mask canvas", `!document.getElementById("init-area").hidden &&
		document.getElementById("mask").width == 64 && document.getElementById("init-preview").naturalWidth == 64`)

	// A stroke down the left quarter of the image, with the mouse.
	var rect []float64
	pg.eval(`(() => { const r = document.getElementById("mask").getBoundingClientRect(); return [r.left, r.top, r.width, r.height] })()`, &rect)
	pg.do(chromedp.SetValue(chromedp.ID("brush"), "6"))
	x := rect[0] + rect[2]*12/64
	actions := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MousePressed, x, rect[1]+rect[3]*4/64, chromedp.ButtonLeft)}
	for y := 4.0; y <= 60; y += 4 {
		actions = append(actions, chromedp.MouseEvent(chromedp.MouseMoved, x, rect[1]+rect[3]*y/64, chromedp.ButtonLeft))
	}
	actions = append(actions, chromedp.MouseEvent(chromedp.MouseReleased, x, rect[1]+rect[3]*60/64, chromedp.ButtonLeft))
	pg.do(actions...)
	var painted int
	pg.eval(`(() => { const c = document.getElementById("mask"), p = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let n = 0; for (let i = 3; i < p.length; i += 4) if (p[i] >= 128) n++; return n })()`, &painted)
	if painted < 64*3 || painted > 64*16 {
		t.Fatalf("%d mask pixels painted, want a stroke about 6 wide and 56 long", painted)
	}

	pg.do(chromedp.SetValue(chromedp.ID("prompt"), "a red circle"), chromedp.SetValue(chromedp.ID("steps"), "6"),
		chromedp.SetValue(chromedp.ID("seed"), "5"), chromedp.SetValue(chromedp.ID("mask-blur"), "0"),
		chromedp.SetValue(chromedp.ID("strength"), "0.9"), chromedp.Click(chromedp.ID("generate")))
	pg.poll("the inpainted image in the gallery", `document.querySelectorAll("#gallery .card img").length == 1`)
	var card []string
	pg.eval(`(() => { const i = document.querySelector("#gallery .card img"); return [i.title, i.src] })()`, &card)
	if !strings.Contains(card[0], "Mask blur: 0") || !strings.Contains(card[0], "Denoising strength: 0.9") {
		t.Errorf("parameters %q: the mask or the strength was not sent", card[0])
	}
	out, _ := decodePNG(t, strings.TrimPrefix(card[1], "data:image/png;base64,"))
	if out.Bounds() != init.Bounds() {
		t.Fatalf("result %v, want %v", out.Bounds(), init.Bounds())
	}
	changed := 0
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			a, b := out.NRGBAAt(x, y), init.NRGBAAt(x, y)
			switch {
			case x >= 24 && a != b:
				t.Fatalf("pixel (%d,%d) away from the stroke = %v, want the uploaded image's %v", x, y, a, b)
			case a != b:
				changed++
			}
		}
	}
	if changed == 0 {
		t.Errorf("nothing under the stroke was repainted")
	}

	// Tidy at 1280×800 and at phone width, the image panel open.
	for _, s := range []struct {
		name string
		w, h int64
	}{{"serve-inpaint.png", 1280, 800}, {"", 390, 844}} {
		pg.do(chromedp.EmulateViewport(s.w, s.h), chromedp.Sleep(200e6))
		var overflow bool
		pg.eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow)
		if overflow {
			t.Errorf("%d px wide: the page scrolls sideways", s.w)
		}
		if s.name == "" {
			continue
		}
		png, err := chromedp.Run(pg.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if os.Getenv("SDGO_UPDATE_DOCS") != "" {
			dir = filepath.Join("..", "docs", "img")
		}
		if err := os.WriteFile(filepath.Join(dir, s.name), png, 0o644); err != nil {
			t.Fatal(fmt.Errorf("screenshot: %w", err))
		}
	}

	var fields string
	// "Use as image" on a card puts the result under an empty mask.
	pg.do(chromedp.Click(chromedp.CSS("#gallery .card .actions button:last-child")))
	pg.poll("the result as the image", `initImage == document.querySelector("#gallery .card img").src`)
	pg.eval(`JSON.stringify(Object.keys(imageFields()))`, &fields)
	if fields != `["init_images","denoising_strength"]` {
		t.Errorf("after Use as image the page sends %s", fields)
	}

	// Clear and Remove (clicked from script: the page may still be scrolling
	// smoothly to the image): a later job is plain text to image again.
	var ok bool
	pg.eval(`document.getElementById("clear-mask").click(), document.getElementById("remove-image").click(), true`, &ok)
	pg.eval(`JSON.stringify(imageFields())`, &fields)
	if fields != "{}" {
		t.Errorf("after Remove image the page sends %s", fields)
	}
}
