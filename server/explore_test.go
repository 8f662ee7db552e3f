package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// sseEvent is one Server-Sent Event of a stream.
type sseEvent struct {
	Name string
	Data map[string]any
}

// explore posts body to /api/explore and reads the whole stream.
func explore(t *testing.T, url, body string) (*http.Response, []sseEvent) {
	t.Helper()
	res, err := http.Post(url+"/api/explore", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var events []sseEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 16<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var d map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
				t.Fatalf("event %s: %v", name, err)
			}
			events = append(events, sseEvent{name, d})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return res, events
}

// pngOf decodes a data: URL PNG.
func pngOf(t *testing.T, what string, v any) image.Image {
	t.Helper()
	s, _ := v.(string)
	b64, ok := strings.CutPrefix(s, "data:image/png;base64,")
	if !ok {
		t.Fatalf("%s: not a PNG data URL: %.40q", what, s)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return img
}

// The stream holds every stage, in order, for sd-mini and for the tiny
// reference model: tokens with their 77 slots and weights, both contexts,
// the attention setup, one step event per step with all its pictures, the
// decoded image and the end.
func TestExploreStream(t *testing.T) {
	tiny, _ := loadTiny(t)
	for _, c := range []struct {
		name   string
		cfg    Config
		body   string
		steps  int
		weight bool
	}{
		{"sd-mini", Config{}, `{"prompt":"a (red:1.3) circle above a blue square","seed":42,"steps":4,"sampler_name":"Euler","cfg_scale":2}`, 4, true},
		{"tiny", Config{Model: tiny, ModelTitle: "tiny"}, `{"prompt":"a photograph of an astronaut riding a horse","seed":1,"steps":3,"sampler_name":"DDIM","cfg_scale":5}`, 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, ts := newTest(t, c.cfg)
			res, events := explore(t, ts.URL, c.body)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
			var names []string
			for _, e := range events {
				names = append(names, e.Name)
			}
			want := "start tokens text attention " + strings.Repeat("step ", c.steps) + "decode done"
			if got := strings.Join(names, " "); got != want {
				t.Fatalf("events %q, want %q (last: %v)", got, want, events[len(events)-1].Data)
			}
			ev := map[string]map[string]any{}
			for _, e := range events {
				ev[e.Name] = e.Data
				if path := floatDump(e.Data, e.Name); path != "" {
					t.Errorf("%s: a list of numbers sent to the browser; send a picture", path)
				}
			}
			// Tokens: 77 slots, start, words, end, padding; the weight where asked.
			chunks := ev["tokens"]["chunks"].([]any)
			slots := chunks[0].([]any)
			if len(chunks) != 1 || len(slots) != 77 {
				t.Fatalf("%d chunks, %d slots", len(chunks), len(slots))
			}
			kinds := map[string]int{}
			for _, s := range slots {
				kinds[s.(map[string]any)["kind"].(string)]++
			}
			if kinds["start"] != 1 || kinds["end"] != 1 || kinds["word"] < 5 || kinds["word"]+kinds["pad"] != 75 {
				t.Errorf("slot kinds %v", kinds)
			}
			if ev["tokens"]["weighted"] != c.weight {
				t.Errorf("weighted = %v, want %v", ev["tokens"]["weighted"], c.weight)
			}
			// The text encoder: both contexts, 77 rows each.
			for _, k := range []string{"cond", "uncond"} {
				if b := pngOf(t, "context "+k, ev["text"][k]).Bounds(); b.Dy() != 77 {
					t.Errorf("context %s heat map %v, want 77 rows", k, b)
				}
			}
			pngOf(t, "norms", ev["text"]["norms"])
			// Attention: levels and the prompt's words.
			levels := ev["attention"]["levels"].([]any)
			words := ev["attention"]["words"].([]any)
			if len(levels) == 0 || len(words) != kinds["word"] {
				t.Fatalf("attention levels %v, %d words for %d word slots (note %q)", levels, len(words), kinds["word"], ev["attention"]["note"])
			}
			w, h := int(ev["attention"]["width"].(float64)), int(ev["attention"]["height"].(float64))
			// Every step: its pictures, and one attention strip per level.
			step := 0
			for _, e := range events {
				if e.Name != "step" {
					continue
				}
				if int(e.Data["step"].(float64)) != step {
					t.Errorf("step event %v, want step %d", e.Data["step"], step)
				}
				for _, k := range []string{"latent", "x0", "eps_uncond", "eps_cond", "eps", "schedule", "time_proj", "time_embedding"} {
					pngOf(t, fmt.Sprintf("step %d %s", step, k), e.Data[k])
				}
				maps := e.Data["attention"].(map[string]any)
				for _, l := range levels {
					if b := pngOf(t, "attention "+l.(string), maps[l.(string)]).Bounds(); b.Dx() != w*len(words) || b.Dy() != h {
						t.Errorf("step %d level %s: attention strip %v, want %d×%d", step, l, b, w*len(words), h)
					}
				}
				step++
			}
			img := pngOf(t, "image", ev["decode"]["image"])
			if ev["decode"]["scaling_factor"].(float64) <= 0 || img.Bounds().Dx() != int(ev["start"]["width"].(float64)) {
				t.Errorf("decode %v, image %v", ev["decode"]["scaling_factor"], img.Bounds())
			}
			pngOf(t, "final latent", ev["decode"]["latent"])
		})
	}
}

// floatDump returns the path of the first list of more than three numbers
// in v (a latent's shape is three), or "".
func floatDump(v any, path string) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if p := floatDump(x, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		nums := 0
		for i, x := range v {
			if _, ok := x.(float64); ok {
				nums++
			}
			if p := floatDump(x, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
		if nums > 3 {
			return path
		}
	}
	return ""
}

// The serve issue's limits hold for explorations: steps and sizes past the
// server's, and a memory estimate past --max-memory, are refused before the
// stream starts, naming the field; a run that fits but whose attention maps
// would not gets every stage and a note saying why there are no maps.
func TestExploreLimits(t *testing.T) {
	_, ts := newTest(t, Config{Limits: Limits{MaxSteps: 10, MaxWidth: 128, MaxHeight: 128}, MaxMemory: 4 << 20,
		Estimate: func(m *pipeline.Model, o pipeline.Options) (int64, error) {
			return int64(o.Width*o.Height) << 10, nil // 1 MiB at 32×32, 4 MiB at 64×64, 16 MiB at 128×128
		}})
	for _, c := range []struct{ body, field, msg string }{
		{`{"prompt":"x","steps":11}`, "steps", "between 1 and 10"},
		{`{"prompt":"x","width":136,"steps":2}`, "width", "to 128"},
		{`{"prompt":"x","height":136,"steps":2}`, "height", "to 128"},
		{`{"prompt":"x","width":128,"height":128,"steps":2}`, "width", "estimated 16 MiB, more than the 4 MiB"},
	} {
		var out map[string]any
		res := call(t, ts, "POST", "/api/explore", c.body, &out)
		if got := fmt.Sprint(out); res.StatusCode != 400 || !strings.Contains(got, c.field) || !strings.Contains(got, c.msg) {
			t.Errorf("%s: %d %v, want 400 naming %s: %q", c.body, res.StatusCode, got, c.field, c.msg)
		}
	}
	for _, c := range []struct {
		size int
		maps bool
	}{{32, true}, {64, false}} {
		_, events := explore(t, ts.URL, fmt.Sprintf(`{"prompt":"a red circle","steps":2,"width":%d,"height":%d}`, c.size, c.size))
		var names []string
		for _, e := range events {
			names = append(names, e.Name)
			if e.Name == "attention" {
				note, _ := e.Data["note"].(string)
				if got := len(e.Data["levels"].([]any)) > 0; got != c.maps || (!c.maps && !strings.Contains(note, "--max-memory")) {
					t.Errorf("%d px: attention %v, want maps %v", c.size, e.Data, c.maps)
				}
			}
			if e.Name == "step" && (e.Data["attention"] != nil) != c.maps {
				t.Errorf("%d px: step %v has maps %v, want %v", c.size, e.Data["step"], e.Data["attention"] != nil, c.maps)
			}
		}
		if got := strings.Join(names, " "); got != "start tokens text attention step step decode done" {
			t.Errorf("%d px: events %q", c.size, got)
		}
	}
}

// attentionMemory grows with the latent and the context, and is tens of
// MiB, not gigabytes, for SD 1.5 at 512×512.
func TestAttentionMemory(t *testing.T) {
	sd := unet.SD15()
	at512 := attentionMemory(sd, 64, 64, 77)
	if at512 < 20<<20 || at512 > 200<<20 {
		t.Errorf("SD 1.5 at 512×512: %d MiB", at512>>20)
	}
	if attentionMemory(sd, 32, 32, 77) >= at512 || attentionMemory(sd, 64, 64, 154) <= at512 {
		t.Error("not growing with the latent and the context")
	}
}

// Bad requests are refused before the stream starts, naming the field;
// attention maps can be declined; the page is served.
func TestExploreRequests(t *testing.T) {
	_, ts := newTest(t, Config{})
	for _, c := range []struct{ body, field string }{
		{`{"prompt":"x","steps":0}`, "steps"},
		{`{"prompt":"x","batch_size":2}`, "batch_size"},
		{`{"prompt":"x","init_images":["abc"]}`, "init_images"},
		{`{"prompt":"x","attention":"yes"}`, "attention"},
		{`{"prompt":"x","width":12}`, "width"},
	} {
		var out map[string]any
		res := call(t, ts, "POST", "/api/explore", c.body, &out)
		if res.StatusCode != 400 || !strings.Contains(fmt.Sprint(out), c.field) {
			t.Errorf("%s: %d %v", c.body, res.StatusCode, out)
		}
	}
	_, events := explore(t, ts.URL, `{"prompt":"a red circle","steps":2,"attention":false}`)
	for _, e := range events {
		if e.Name == "attention" && (len(e.Data["levels"].([]any)) != 0 || e.Data["note"] == "") {
			t.Errorf("attention declined: %v", e.Data)
		}
		if e.Name == "step" && e.Data["attention"] != nil {
			t.Errorf("step %v has attention maps", e.Data["step"])
		}
	}
	res := call(t, ts, "GET", "/explore", "", nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /explore: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// Each walkthrough stage page links to the live view of its stage: a panel
// the Explore page has; the main page and docs/walkthrough.md link to the
// Explore page.
func TestWalkthroughLinksExplore(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("..", "docs", "walkthrough", "[1-6]-*.md"))
	if err != nil || len(pages) != 6 {
		t.Fatalf("walkthrough pages %v: %v", pages, err)
	}
	link := regexp.MustCompile(`/explore#([\w-]+)\)`)
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := link.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no link to the Explore page", p)
			continue
		}
		if !bytes.Contains(explorePage, []byte(`id="`+string(m[1])+`"`)) {
			t.Errorf("%s: links to #%s, which the Explore page does not have", p, m[1])
		}
	}
	if b, _ := os.ReadFile(filepath.Join("static", "index.html")); !bytes.Contains(b, []byte(`href="/explore"`)) {
		t.Error("the main page does not link to /explore")
	}
	if b, _ := os.ReadFile(filepath.Join("..", "docs", "walkthrough.md")); !bytes.Contains(b, []byte(`(http://127.0.0.1:7860/explore)`)) {
		t.Error("docs/walkthrough.md does not link to /explore")
	}
}

// FuzzExplore feeds random bodies to POST /api/explore: a 400 with a JSON
// error naming what is wrong, or a stream that ends in "done" or "error";
// never a panic or a 5xx. The limits keep each run to two tiny steps.
func FuzzExplore(f *testing.F) {
	m := loadMini(f)
	s, err := NewServer(Config{Model: m, ModelTitle: BuiltinModel, Limits: Limits{MaxBody: 1 << 16, MaxSteps: 2, MaxWidth: 64, MaxHeight: 64}})
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range []string{`{}`, `{"prompt":"a (red:1.5) circle BREAK square","steps":2,"seed":1}`, `{"prompt":"x","cfg_scale":1}`,
		`{"prompt":"x","attention":false,"sampler_name":"DDIM"}`, `{"prompt":"[[a]] (b:0) c","negative_prompt":"((d))","steps":1}`, `null`, `[]`, `{"steps":1e400}`} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/explore", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch {
		case rec.Code == 200:
			out := rec.Body.String()
			if !strings.HasSuffix(out, "event: done\ndata: {}\n\n") && !strings.Contains(out, "event: error\n") {
				t.Fatalf("%q: a stream that neither ends nor fails: …%s", body, out[max(0, len(out)-200):])
			}
		case rec.Code >= 400 && rec.Code < 500 && bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)):
		default:
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.Bytes())
		}
	})
}

// Past maxAttentionCells the stream still has every stage, and the
// attention event says why there are no maps.
func TestExploreAttentionTooLarge(t *testing.T) {
	tiny, _ := loadTiny(t)
	mult := tiny.VAEFactor() * tiny.UNetFactor()
	side := (65*tiny.VAEFactor() + mult - 1) / mult * mult // more than 64 latent cells a side
	_, ts := newTest(t, Config{Model: tiny, ModelTitle: "tiny"})
	_, events := explore(t, ts.URL, fmt.Sprintf(`{"prompt":"a horse","steps":1,"cfg_scale":3,"width":%d,"height":%d}`, side, side))
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
		if e.Name == "attention" && (len(e.Data["levels"].([]any)) != 0 || !strings.Contains(e.Data["note"].(string), "at most 4096 cells")) {
			t.Errorf("attention event %v", e.Data)
		}
		if e.Name == "step" && e.Data["attention"] != nil {
			t.Error("a step has attention maps")
		}
	}
	if got := strings.Join(names, " "); got != "start tokens text attention step decode done" {
		t.Errorf("events %q", got)
	}
}

// BenchmarkExplore is BenchmarkTxt2Img's image through POST /api/explore,
// with and without the attention maps: the cost of keeping and drawing
// every stage (x̂₀ decoded by the VAE at every step, the attention
// recomputed per transformer) over a plain generation.
func BenchmarkExplore(b *testing.B) {
	_, ts := newTest(b, Config{})
	for _, attn := range []bool{false, true} {
		b.Run(fmt.Sprintf("attention=%v", attn), func(b *testing.B) {
			body := fmt.Sprintf(`{"prompt":"a red circle on the left","steps":%d,"seed":1,"attention":%v}`, benchSteps, attn)
			for b.Loop() {
				res, err := ts.Client().Post(ts.URL+"/api/explore", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if !bytes.HasSuffix(out, []byte("event: done\ndata: {}\n\n")) {
					b.Fatalf("stream did not end: …%s", out[max(0, len(out)-200):])
				}
			}
		})
	}
}

// With TAESD loaded, each step also has the latent decoded by it, and x̂₀ is
// decoded by TAESD.
func TestExploreTAESD(t *testing.T) {
	_, ts := newTest(t, Config{Preview: loadTAESD(t)})
	_, events := explore(t, ts.URL, `{"prompt":"a red circle","steps":2,"seed":3}`)
	steps := 0
	for _, e := range events {
		if e.Name != "step" {
			continue
		}
		steps++
		if b := pngOf(t, "latent_taesd", e.Data["latent_taesd"]).Bounds(); b.Dx() != 64 || e.Data["x0_decoder"] != "TAESD" {
			t.Errorf("step %v: TAESD latent %v, x̂₀ by %v", e.Data["step"], b, e.Data["x0_decoder"])
		}
	}
	if steps != 2 {
		t.Errorf("%d steps", steps)
	}
}

// One exploration at a time: a second one while the first runs gets 503
// with Retry-After; a client that goes away stops its exploration, and the
// next one runs.
func TestExploreOneAtATime(t *testing.T) {
	_, ts := newTest(t, Config{})
	first, err := http.Post(ts.URL+"/api/explore", "application/json", strings.NewReader(`{"prompt":"a red circle","steps":150}`))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(first.Body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() && sc.Text() != "event: step" {
	}
	var out map[string]any
	res := call(t, ts, "POST", "/api/explore", `{"prompt":"a blue square","steps":2}`, &out)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("second exploration: %d %v", res.StatusCode, out)
	}
	first.Body.Close()
	waitFor(t, func() bool {
		res, err := http.Post(ts.URL+"/api/explore", "application/json", strings.NewReader(`{"prompt":"a blue square","steps":1,"attention":false}`))
		if err != nil {
			return false
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		return res.StatusCode == 200
	})
}

// loadTAESD loads the random-weights TAESD decoder of the reference data.
func loadTAESD(t *testing.T) *vae.TinyDecoder {
	t.Helper()
	src, _, err := weights.OpenAny(testdata.Path(t, "taesd/random_arch/taesd_decoder.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := vae.LoadTinyDecoder(src)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}
