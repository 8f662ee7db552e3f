package server

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The Explore page in a real headless Chromium: type a prompt, Explore,
// watch every panel fill, move the step slider, see the attention map
// change with the word chosen, and compare two prompts, then two guidance
// scales. With SDGO_UPDATE_DOCS=1 the screenshots go
// to docs/img/explore.png and docs/img/explore-phone.png.
func TestExplorePageInBrowser(t *testing.T) {
	pg := newPage(t)
	_, ts := newTest(t, Config{})
	eval, poll := pg.eval, pg.poll
	status := `document.getElementById("status").textContent`

	pg.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(ts.URL+"/explore"))
	poll("the model name", `document.getElementById("model").textContent.includes("sd-mini")`)
	pg.do(
		chromedp.SetValue(chromedp.ID("prompt"), "a (red:1.3) circle above a blue square"),
		chromedp.SetValue(chromedp.ID("steps"), "8"),
		chromedp.SetValue(chromedp.ID("cfg"), "2"),
		chromedp.Click(chromedp.ID("explore")),
	)
	poll("Done", status+`.startsWith("Done")`)

	// Every picture on screen is drawn (none empty or broken, the hidden
	// TAESD one included); the weighted word is marked.
	var missing []string
	eval(`[...document.querySelectorAll("#panels img")].filter(i => i.getClientRects().length > 0 && !(i.src.startsWith("data:image/png") && i.naturalWidth > 0)).map(i => i.id)`, &missing)
	if len(missing) != 0 {
		t.Errorf("pictures missing: %v", missing)
	}
	var tokens []string
	eval(`[...document.querySelectorAll("#tokens .tok.weighted span:first-child")].map(s => s.textContent)`, &tokens)
	if strings.Join(tokens, " ") != "red" {
		t.Errorf("weighted tokens %q", tokens)
	}
	// The slots add up to 77: start, words, end, and one box for the padding.
	var nTok int
	eval(`document.querySelectorAll("#tokens .tok:not(.pad)").length + +document.querySelector("#tokens .tok.pad span").textContent.split("×")[1]`, &nTok)
	if nTok != 77 {
		t.Errorf("%d token slots shown, want 77", nTok)
	}
	var links []string
	eval(`[...document.querySelectorAll(".panel:not([hidden]) .caption a")].map(a => a.getAttribute("href").split("/").pop())`, &links)
	if len(links) != 6 {
		t.Errorf("walkthrough links %q", links)
	}

	// The slider: the last step shown, then step 3.
	var label string
	eval(`document.getElementById("step-label").textContent`, &label)
	if !strings.HasPrefix(label, "step 8 of 8") {
		t.Errorf("step label %q", label)
	}
	var latentLast string
	eval(`document.getElementById("latent").src`, &latentLast)
	pg.do(chromedp.SetValue(chromedp.ID("step"), "2"))
	eval(`document.getElementById("step").dispatchEvent(new Event("input")), true`, new(bool))
	poll("step 3 on the slider", `document.getElementById("step-label").textContent.startsWith("step 3 of 8")`)
	var latent3 string
	eval(`document.getElementById("latent").src`, &latent3)
	if latent3 == latentLast {
		t.Error("the latent picture did not change with the step")
	}

	// The attention map follows the chosen word.
	poll("the attention map of step 3", `document.getElementById("attn-map").dataset.key?.startsWith("2/")`)
	var before, after, words []string
	eval(`[...document.getElementById("word").options].map(o => o.textContent)`, &words)
	if len(words) < 5 || words[1] != "red" {
		t.Fatalf("words %q", words)
	}
	var level string
	eval(`document.getElementById("level").value`, &level)
	eval(`[document.getElementById("attn-map").dataset.key, document.getElementById("attn-map").toDataURL()]`, &before)
	pg.do(chromedp.SetValue(chromedp.ID("word"), "4"))
	eval(`document.getElementById("word").dispatchEvent(new Event("change")), true`, new(bool))
	poll("the map of word 4", `document.getElementById("attn-map").dataset.key == "2/`+level+`/4"`)
	eval(`[document.getElementById("attn-map").dataset.key, document.getElementById("attn-map").toDataURL()]`, &after)
	if before[1] == after[1] {
		t.Errorf("the attention map did not change from word %s to word 4", before[0])
	}
	var attnLabel string
	eval(`document.getElementById("attn-label").textContent`, &attnLabel)
	if !strings.Contains(attnLabel, words[4]) || !strings.Contains(attnLabel, "step 3") {
		t.Errorf("attention label %q", attnLabel)
	}

	// Compare: a second prompt with the same noise, side by side.
	pg.do(chromedp.Click(chromedp.ID("compare")),
		chromedp.SetValue(chromedp.ID("prompt-b"), "a blue circle above a red square"),
		chromedp.Click(chromedp.ID("explore")))
	poll("both runs", status+`.startsWith("Done: A and B")`)
	var cmp []string
	eval(`["cmp-a-image", "cmp-b-image", "cmp-a-x0", "cmp-b-x0"].map(id => document.getElementById(id).src)`, &cmp)
	for i, src := range cmp {
		if !strings.HasPrefix(src, "data:image/png") {
			t.Fatalf("compare picture %d: %.40q", i, src)
		}
	}
	if cmp[0] == cmp[1] {
		t.Error("the two prompts made the same image")
	}
	var cmpLabel string
	eval(`document.getElementById("cmp-b-label").textContent`, &cmpLabel)
	if !strings.Contains(cmpLabel, "blue circle above a red") {
		t.Errorf("B's label %q", cmpLabel)
	}

	pg.shot("explore.png", 1280, 800, true)
	pg.shot("explore-phone.png", 390, 844, true)

	// Compare two guidance scales: the same prompt (an empty second prompt),
	// the same noise, guidance 2 against 6.
	eval(`document.getElementById("prompt-b").value = "", document.getElementById("cfg-b").value = "6", true`, new(bool))
	pg.do(chromedp.Click(chromedp.ID("explore")))
	poll("both runs, two scales", status+`.startsWith("Done: A and B") && document.getElementById("cmp-b-label").textContent.endsWith("g 6")`)
	var scales []string
	eval(`["cmp-a-label", "cmp-b-label", "cmp-a-image", "cmp-b-image"].map(id => document.getElementById(id).textContent || document.getElementById(id).src)`, &scales)
	if !strings.HasSuffix(scales[0], "g 2") || !strings.Contains(scales[1], "a (red:1.3) circle above a blue square") || scales[2] == scales[3] {
		t.Errorf("guidance compare: A %q, B %q, same image %v", scales[0], scales[1], scales[2] == scales[3])
	}
	// The same noise: at the first step, with the same prompt, the U-Net
	// sees the same latent, so its prediction with the prompt is the same.
	var sameNoise bool
	eval(`runs.length == 2 && runs[0].steps[0].eps_cond.startsWith("data:image/png") && runs[0].steps[0].eps_cond === runs[1].steps[0].eps_cond`, &sameNoise)
	if !sameNoise {
		t.Error("A and B's first noise predictions differ: not the same noise")
	}
}

// Behind an API key the Explore page sends the key the browser keeps.
func TestExplorePageWithAPIKey(t *testing.T) {
	pg := newPage(t)
	_, ts := newTest(t, Config{APIKey: "explore-key"})
	pg.do(chromedp.Navigate(ts.URL + "/healthz"))
	pg.eval(`localStorage.setItem("sdgo-api-key", "explore-key"), true`, new(bool))
	pg.do(chromedp.Navigate(ts.URL + "/explore"))
	pg.poll("the model name", `document.getElementById("model").textContent.includes("sd-mini")`)
	pg.do(chromedp.SetValue(chromedp.ID("steps"), "2"), chromedp.Click(chromedp.ID("explore")))
	pg.poll("Done", `document.getElementById("status").textContent.startsWith("Done")`)
}
