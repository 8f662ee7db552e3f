package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sdgo/sdgo/internal/atomicfile"
)

// chromium finds a Chromium (Debian's chromium package) or Chrome.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// page is a headless Chromium tab for a test, with helpers that fail the
// test on error.
type page struct {
	t   *testing.T
	ctx context.Context
}

// newPage starts Chromium with the flags the guide names and a fresh
// profile, or skips the test when there is none.
func newPage(t *testing.T) *page {
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium found (apt-get install chromium): the page is not tested in a browser")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return &page{t, ctx}
}

// do runs actions.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// eval evaluates js into out.
func (p *page) eval(js string, out any) {
	p.t.Helper()
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[json.RawMessage](js))
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
}

// poll evaluates js every 20 ms until it is true, for up to 30 s.
func (p *page) poll(what, js string) {
	p.t.Helper()
	for range 1500 {
		var ok bool
		p.eval(js, &ok)
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	var status string
	p.eval(`document.getElementById("progress-text").textContent`, &status)
	p.t.Fatalf("timed out waiting for %s (status %q)", what, status)
}

// shot checks the layout at w×h (no sideways scrolling) and captures the
// screen (the whole page when full) to name: in docs/img with
// SDGO_UPDATE_DOCS=1, else in a temporary folder.
func (p *page) shot(name string, w, h int64, full bool) {
	p.t.Helper()
	p.do(chromedp.EmulateViewport(w, h), chromedp.Sleep(200*time.Millisecond))
	capture := chromedp.CaptureScreenshot()
	if full {
		capture = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(p.ctx, capture)
	if err != nil {
		p.t.Fatal(err)
	}
	var overflow bool
	p.eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow)
	if overflow {
		p.t.Errorf("%d px wide: the page scrolls sideways", w)
	}
	dir := p.t.TempDir()
	if os.Getenv("SDGO_UPDATE_DOCS") != "" {
		dir = filepath.Join("..", "docs", "img")
	}
	if err := atomicfile.Write(filepath.Join(dir, name), png, true); err != nil {
		p.t.Fatal(err)
	}
}

// The page in a real headless Chromium: type a prompt, Generate, watch the
// progress bar advance and the images arrive in the gallery, reuse the
// settings, generate with Ctrl+Enter, cancel a long job, and check the
// layout at 1280×800 and at phone width. With SDGO_UPDATE_DOCS=1 the
// screenshots go to docs/img/serve.png and docs/img/serve-phone.png.
func TestPageInBrowser(t *testing.T) {
	pg := newPage(t)
	_, ts := newTest(t, Config{})
	ctx, eval, poll := pg.ctx, pg.eval, pg.poll
	cards := func() int {
		var n int
		eval(`document.querySelectorAll("#gallery .card img").length`, &n)
		return n
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(ts.URL)); err != nil {
		t.Fatal(err)
	}
	poll("the model name", `document.getElementById("model").textContent.includes("sd-mini")`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("prompt"), "a large red circle on the left on a white background"),
		chromedp.SetValue(chromedp.ID("steps"), "60"),
		chromedp.SetValue(chromedp.ID("count"), "2"),
		chromedp.SetValue(chromedp.ID("seed"), "1"),
		chromedp.Click(chromedp.ID("generate")),
	); err != nil {
		t.Fatal(err)
	}
	// The bar advances: seen part-way, with the step and the time left.
	poll("the progress bar part-way", `(() => { const w = parseFloat(document.getElementById("bar").style.width);
		return w > 0 && w < 100 && /step \d+\/60 · \d+ s left/.test(document.getElementById("progress-text").textContent) })()`)
	poll("a preview", `document.getElementById("preview").src.startsWith("data:image/png")`)
	poll("two images in the gallery", `document.querySelectorAll("#gallery .card img").length == 2`)
	var size []int
	eval(`(() => { const i = document.querySelector("#gallery .card img"); return [i.naturalWidth, i.naturalHeight] })()`, &size)
	if len(size) != 2 || size[0] != 64 || size[1] != 64 {
		t.Errorf("gallery image size %v", size)
	}
	var meta string
	eval(`document.querySelector("#gallery .card .meta").textContent`, &meta)
	if !strings.Contains(meta, "seed 2") || !strings.Contains(meta, "60 steps") {
		t.Errorf("card text %q", meta)
	}
	var href string
	eval(`document.querySelector("#gallery .card a[download]").href`, &href)
	if !strings.HasPrefix(href, "data:image/png;base64,") {
		t.Errorf("download link %.40q", href)
	}

	// Reuse settings fills the form from a card; Ctrl+Enter generates.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("prompt"), "something else"),
		chromedp.Click(chromedp.CSS("#gallery .card .actions button")),
	); err != nil {
		t.Fatal(err)
	}
	var form []string
	eval(`[document.getElementById("prompt").value, document.getElementById("seed").value, document.getElementById("count").value]`, &form)
	if fmt.Sprint(form) != "[a large red circle on the left on a white background 2 1]" {
		t.Errorf("reused settings %q", form)
	}
	for _, p := range []string{"a small blue square at the top on a yellow background", "a green triangle on the right on a black background"} {
		n := cards()
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("prompt"), p),
			chromedp.SetValue(chromedp.ID("steps"), "20"),
			chromedp.SetValue(chromedp.ID("count"), "2"),
			chromedp.Focus(chromedp.ID("prompt")),
			chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		); err != nil {
			t.Fatal(err)
		}
		poll("the images of Ctrl+Enter", fmt.Sprintf(`document.querySelectorAll("#gallery .card img").length == %d`, n+2))
	}
	shot := pg.shot
	shot("serve.png", 1280, 800, false)
	shot("serve-phone.png", 390, 844, true)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}

	// Cancel a long job.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("steps"), "150"),
		chromedp.SetValue(chromedp.ID("count"), "8"),
		chromedp.Click(chromedp.ID("generate")),
	); err != nil {
		t.Fatal(err)
	}
	poll("the long job to run", `/step \d+\/150/.test(document.getElementById("progress-text").textContent)`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("cancel"))); err != nil {
		t.Fatal(err)
	}
	poll("Cancelled.", `document.getElementById("progress-text").textContent == "Cancelled." && !document.getElementById("generate").disabled`)
}

// Behind an API key the page sends the key it keeps (asked once, stored in
// the browser) on every request, the event stream included.
func TestPageWithAPIKey(t *testing.T) {
	pg := newPage(t)
	_, ts := newTest(t, Config{APIKey: "page-key"})
	pg.do(chromedp.Navigate(ts.URL + "/healthz"))
	var ok bool
	pg.eval(`localStorage.setItem("sdgo-api-key", "page-key"), true`, &ok)
	pg.do(chromedp.Navigate(ts.URL))
	pg.poll("the model name", `document.getElementById("model").textContent.includes("sd-mini")`)
	pg.do(chromedp.SetValue(chromedp.ID("prompt"), "a red circle"), chromedp.SetValue(chromedp.ID("steps"), "4"),
		chromedp.Click(chromedp.ID("generate")))
	pg.poll("an image in the gallery", `document.querySelectorAll("#gallery .card img").length == 1`)
}
