package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// loadMini loads sd-mini, the model built into sdgo.
func loadMini(t testing.TB) *pipeline.Model {
	t.Helper()
	dir, err := sdmini.Path()
	if err != nil {
		t.Skip("sd-mini is not built in:", err)
	}
	m, err := pipeline.Load(dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadTiny loads the tiny reference model of ../shared/testdata/pipeline.
func loadTiny(t testing.TB) (*pipeline.Model, string) {
	t.Helper()
	td := testdata.Dir(t, "pipeline")
	path := filepath.Join(td, "sd_tiny.safetensors")
	m, err := pipeline.Load(path, pipeline.LoadOptions{Config: filepath.Join(td, "diffusers")})
	if err != nil {
		t.Fatal(err)
	}
	return m, td
}

// newTest starts a server on sd-mini (unless cfg names a model) behind httptest.
func newTest(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Model == nil {
		cfg.Model, cfg.ModelTitle = loadMini(t), BuiltinModel
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s, ts
}

// call sends a request and decodes a JSON reply into out (when not nil).
func call(t testing.TB, ts *httptest.Server, method, path, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res
}

func decodePNG(t testing.TB, b64 string) (*image.NRGBA, string) {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	params, err := pipeline.PNGParameters(data)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := img.(*image.NRGBA)
	if !ok {
		n = image.NewNRGBA(img.Bounds())
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				n.Set(x, y, img.At(x, y))
			}
		}
	}
	return n, params
}

type a1111Reply struct {
	Images     []string       `json:"images"`
	Parameters map[string]any `json:"parameters"`
	Info       string         `json:"info"`
}

func TestGetRoutes(t *testing.T) {
	_, ts := newTest(t, Config{})
	for _, tc := range []struct {
		path, want string
	}{
		{"/", "<title>sdgo</title>"},
		{"/healthz", `"ok"`},
		{"/readyz", `"ready":true`},
		{"/sdapi/v1/samplers", `"name":"DPM++ 2M"`},
		{"/sdapi/v1/schedulers", `"Karras"`},
		{"/sdapi/v1/sd-models", `"title":"sd-mini"`},
		{"/sdapi/v1/options", `"sd_model_checkpoint":"sd-mini"`},
		{"/sdapi/v1/progress", `"sampling_steps":0`},
		{"/sdapi/v1/loras", `[]`},
		{"/api/info", `"native_size":64`},
		{"/metrics", `sdgo_queue_waiting 0`},
	} {
		res := call(t, ts, "GET", tc.path, "", nil)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s: %d %.300s, want %q", tc.path, res.StatusCode, b, tc.want)
		}
	}
	if res := call(t, ts, "GET", "/nope", "", nil); res.StatusCode != 404 {
		t.Errorf("GET /nope: %d", res.StatusCode)
	}
}

func TestTxt2Img(t *testing.T) {
	s, ts := newTest(t, Config{})
	var r a1111Reply
	res := call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"a red circle on the left","negative_prompt":"blue",
		"steps":3,"seed":7,"sampler_name":"DPM++ 2M Karras","n_iter":2,"subseed":-1,"enable_hr":false,
		"override_settings":{"CLIP_stop_at_last_layers":2}}`, &r)
	if res.StatusCode != 200 || len(r.Images) != 2 {
		t.Fatalf("status %d, %d images", res.StatusCode, len(r.Images))
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(r.Info), &info); err != nil {
		t.Fatalf("info %q: %v", r.Info, err)
	}
	if info["seed"] != 7.0 || len(info["all_seeds"].([]any)) != 2 || info["all_seeds"].([]any)[1] != 8.0 || info["width"] != 64.0 ||
		info["cfg_scale"] != float64(sdmini.DefaultCFGScale) || info["clip_skip"] != 2.0 || len(info["infotexts"].([]any)) != 2 {
		t.Errorf("info %v", info)
	}
	if r.Parameters["prompt"] != "a red circle on the left" || r.Parameters["steps"] != 3.0 || r.Parameters["seed"] != 7.0 {
		t.Errorf("parameters %v", r.Parameters)
	}
	img, params := decodePNG(t, r.Images[1])
	if img.Bounds().Dx() != 64 {
		t.Errorf("image %v", img.Bounds())
	}
	for _, want := range []string{"a red circle on the left\nNegative prompt: blue\n", "Steps: 3", "Sampler: DPM++ 2M", "Schedule type: Karras", "Seed: 8", "Clip skip: 2"} {
		if !strings.Contains(params, want) {
			t.Errorf("parameters chunk %q lacks %q", params, want)
		}
	}
	// send_images false: no images, the rest as usual; save_images is
	// taken (and echoed: without --output-dir nothing is saved).
	call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x","steps":1,"send_images":false,"save_images":true}`, &r)
	if len(r.Images) != 0 || r.Info == "" || r.Parameters["save_images"] != true || r.Parameters["send_images"] != false {
		t.Errorf("send_images false: %d images, info %q, parameters %v", len(r.Images), r.Info, r.Parameters)
	}
	// The image is read back by png-info.
	var pi struct {
		Info       string            `json:"info"`
		Parameters map[string]string `json:"parameters"`
	}
	call(t, ts, "POST", "/sdapi/v1/png-info", `{"image":"data:image/png;base64,`+r2(t, ts)+`"}`, &pi)
	if !strings.HasPrefix(pi.Info, "a blue square\n") || pi.Parameters["Steps"] != "2" || pi.Parameters["Prompt"] != "a blue square" {
		t.Errorf("png-info %+v", pi)
	}
	waitFor(t, func() bool { got := s.queue.Stats(); return got.Running == 0 && got.Waiting == 0 })
}

// Every sampler name A1111's clients send, with the scheduler field or the
// older "… Karras" spelling, runs the sampler it names: the PNG's
// parameters and the info say which.
func TestA1111Samplers(t *testing.T) {
	_, ts := newTest(t, Config{})
	for _, tc := range []struct {
		sampler, scheduler, label string
		karras                    bool
	}{
		{"Euler a", "", "Euler a", false},
		{"Euler", "", "Euler", false},
		{"LMS", "", "LMS", false},
		{"Heun", "", "Heun", false},
		{"DPM++ 2M", "", "DPM++ 2M", false},
		{"DDIM", "", "DDIM", false},
		{"PLMS", "", "PLMS", false},
		{"LCM", "", "LCM", false},
		{"DPM++ 2M", "Karras", "DPM++ 2M", true},
		{"Euler", "karras", "Euler", true},
		{"DPM++ 2M Karras", "", "DPM++ 2M", true},
		{"DPM++ 2M", "Automatic", "DPM++ 2M", false},
		{"euler_a", "", "Euler a", false}, // sdgo's own names pass too
	} {
		body := fmt.Sprintf(`{"prompt":"x","steps":3,"seed":1,"sampler_name":%q,"scheduler":%q}`, tc.sampler, tc.scheduler)
		var r a1111Reply
		if res := call(t, ts, "POST", "/sdapi/v1/txt2img", body, &r); res.StatusCode != 200 || len(r.Images) != 1 {
			t.Errorf("%s: status %d, %d images", body, res.StatusCode, len(r.Images))
			continue
		}
		_, params := decodePNG(t, r.Images[0])
		if !strings.Contains(params, "Sampler: "+tc.label+",") || strings.Contains(params, "Schedule type: Karras") != tc.karras {
			t.Errorf("%s: parameters %q, want sampler %s, Karras %v", body, params, tc.label, tc.karras)
		}
	}
}

// r2 makes one image and returns it as base64.
func r2(t *testing.T, ts *httptest.Server) string {
	var r a1111Reply
	call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"a blue square","steps":2,"seed":1}`, &r)
	if len(r.Images) != 1 {
		t.Fatalf("%d images", len(r.Images))
	}
	return r.Images[0]
}

func TestImg2Img(t *testing.T) {
	_, ts := newTest(t, Config{})
	src := r2(t, ts)
	var r a1111Reply
	res := call(t, ts, "POST", "/sdapi/v1/img2img", `{"prompt":"a green square","steps":4,"denoising_strength":0.5,"seed":3,
		"init_images":["data:image/png;base64,`+src+`"]}`, &r)
	if res.StatusCode != 200 || len(r.Images) != 1 {
		t.Fatalf("status %d, %d images", res.StatusCode, len(r.Images))
	}
	if _, params := decodePNG(t, r.Images[0]); !strings.Contains(params, "Denoising strength: 0.5") {
		t.Errorf("parameters %q", params)
	}
	if r.Parameters["init_images"] != nil {
		t.Errorf("init_images echoed back")
	}
	var info map[string]any
	json.Unmarshal([]byte(r.Info), &info)
	if info["denoising_strength"] != 0.5 {
		t.Errorf("info %v", info)
	}
	// Plain base64, without the data: prefix, is taken too.
	res = call(t, ts, "POST", "/sdapi/v1/img2img", `{"prompt":"a green square","steps":4,"denoising_strength":0.5,"seed":3,
		"init_images":["`+src+`"]}`, &r)
	if res.StatusCode != 200 || len(r.Images) != 1 {
		t.Fatalf("without data: status %d, %d images", res.StatusCode, len(r.Images))
	}
}

func TestOpenAI(t *testing.T) {
	_, ts := newTest(t, Config{})
	var r struct {
		Created int64 `json:"created"`
		Data    []struct {
			B64 string `json:"b64_json"`
		} `json:"data"`
	}
	res := call(t, ts, "POST", "/v1/images/generations", `{"model":"dall-e-3","prompt":"a red circle","n":2,"size":"64x64","response_format":"b64_json","seed":5,"steps":3}`, &r)
	if res.StatusCode != 200 || len(r.Data) != 2 || r.Created == 0 {
		t.Fatalf("status %d, %+v", res.StatusCode, r)
	}
	if _, params := decodePNG(t, r.Data[1].B64); !strings.Contains(params, "Seed: 6") {
		t.Errorf("parameters %q", params)
	}
	// edits: multipart image + prompt → img2img.
	png, _ := base64.StdEncoding.DecodeString(r.Data[0].B64)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("image", "in.png")
	fw.Write(png)
	mw.WriteField("prompt", "a blue circle")
	mw.WriteField("steps", "4")
	mw.Close()
	req, _ := http.NewRequest("POST", ts.URL+"/v1/images/edits", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r.Data = nil
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != 200 || len(r.Data) != 1 {
		t.Fatalf("edits: status %d, %d images", resp.StatusCode, len(r.Data))
	}
	if _, params := decodePNG(t, r.Data[0].B64); !strings.Contains(params, "Denoising strength: 0.75") {
		t.Errorf("edits parameters %q", params)
	}
}

// fakeQueue is a queue whose jobs finish at once with a 64×64 image, or wait
// for release when block is set: for tests of the HTTP layer alone.
func fakeQueue(workers, size int, block chan struct{}) (*JetStreamQueue, *sync.Map) {
	var ran sync.Map // job id → times run
	var pic bytes.Buffer
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	png.Encode(&pic, img)
	q, err := NewEmbeddedQueue("", "", JetStreamOptions{Capacity: size})
	if err != nil {
		panic(err)
	}
	q.Work(BuiltinModel, workers, func(ctx context.Context, j *Job) error {
		if ctx.Err() != nil { // cancelled while it waited
			j.Finish(nil, context.Cause(ctx))
			return context.Cause(ctx)
		}
		n, _ := ran.LoadOrStore(j.ID, new(int))
		*n.(*int)++
		if block != nil {
			select {
			case <-block:
			case <-ctx.Done():
				j.Finish(nil, context.Cause(ctx))
				return context.Cause(ctx)
			}
		}
		var imgs []Image
		for i := range j.Options.BatchCount {
			imgs = append(imgs, Image{PNG: pic.Bytes(), Seed: j.Options.Seed + uint64(i)})
		}
		j.Finish(imgs, nil)
		return nil
	})
	return q, &ran
}

func TestBadInput(t *testing.T) {
	q, _ := fakeQueue(1, 4, nil)
	_, ts := newTest(t, Config{Queue: q, Limits: Limits{MaxBody: 1 << 20}})
	notImage := base64.StdEncoding.EncodeToString([]byte("hello, world"))
	huge := func() string { // a PNG header claiming 5000×5000
		var b bytes.Buffer
		png.Encode(&b, image.NewGray(image.Rect(0, 0, 5000, 5000)))
		return base64.StdEncoding.EncodeToString(b.Bytes())
	}()
	// A PNG header alone claiming 100000×100000, and a JPEG whose frame header
	// claims 60000×50000 over an 8×8 scan: refused from the header, before any
	// decoding (which would fail on the missing data, or allocate gigabytes).
	pngHeader := func() string {
		var b bytes.Buffer
		png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)))
		h := b.Bytes()[:33] // signature, IHDR
		binary.BigEndian.PutUint32(h[16:], 100000)
		binary.BigEndian.PutUint32(h[20:], 100000)
		binary.BigEndian.PutUint32(h[29:], crc32.ChecksumIEEE(h[12:29]))
		return base64.StdEncoding.EncodeToString(h)
	}()
	jpegHeader := func() string {
		var b bytes.Buffer
		jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
		h := b.Bytes()
		i := bytes.Index(h, []byte{0xff, 0xc0}) // SOF0: length, precision, height, width
		binary.BigEndian.PutUint16(h[i+5:], 50000)
		binary.BigEndian.PutUint16(h[i+7:], 60000)
		return base64.StdEncoding.EncodeToString(h) // the 8×8 scan: far too short for the size claimed
	}()
	for _, tc := range []struct {
		path, body string
		status     int
		field      string // named in the error
	}{
		{"/sdapi/v1/img2img", `{"init_images":["` + pngHeader + `"]}`, 422, "image is 100000x100000, the limit is 4096x4096"},
		{"/sdapi/v1/img2img", `{"init_images":["` + jpegHeader + `"]}`, 422, "image is 60000x50000, the limit is 4096x4096"},
		{"/sdapi/v1/txt2img", `{"prompt":`, 422, "malformed JSON"},
		{"/sdapi/v1/txt2img", ``, 422, "empty request body"},
		{"/sdapi/v1/txt2img", `[1,2]`, 422, "must be a JSON object"},
		{"/sdapi/v1/txt2img", `{"steps":"many"}`, 422, "steps"},
		{"/sdapi/v1/txt2img", `{"steps":-3}`, 422, "steps"},
		{"/sdapi/v1/txt2img", `{"steps":100000}`, 422, "steps"},
		{"/sdapi/v1/txt2img", `{"cfg_scale":1e999}`, 422, "cfg_scale"},
		{"/sdapi/v1/txt2img", `{"cfg_scale":"NaN"}`, 422, "cfg_scale"},
		{"/sdapi/v1/txt2img", `{"width":100}`, 422, "width"},
		{"/sdapi/v1/txt2img", `{"height":4096}`, 422, "height"},
		{"/sdapi/v1/txt2img", `{"sampler_name":"Euler b"}`, 422, "sampler_name"},
		{"/sdapi/v1/txt2img", `{"scheduler":"Exponential"}`, 422, "scheduler"},
		{"/sdapi/v1/txt2img", `{"seed":-5}`, 422, "seed"},
		{"/sdapi/v1/txt2img", `{"batch_size":9}`, 422, "batch_size"},
		{"/sdapi/v1/txt2img", `{"batch_size":4,"n_iter":4}`, 422, "n_iter"},
		{"/sdapi/v1/txt2img", `{"override_settings":{"CLIP_stop_at_last_layers":1.5}}`, 422, "CLIP_stop_at_last_layers"},
		{"/sdapi/v1/txt2img", `{"prompt":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "larger than"},
		{"/sdapi/v1/txt2img", `{"prompt":"` + strings.Repeat("x ", 9000) + `"}`, 422, "prompt: is 18000 bytes"},
		// Answered 500 "failed after 3 attempts" before.
		{"/sdapi/v1/txt2img", `{"prompt":"a (red:1000000000) circle"}`, 422, `prompt: the weight of "red" must be in [-10, 10]`},
		{"/sdapi/v1/txt2img", `{"prompt":"x","negative_prompt":"(blurry:-99)"}`, 422, "negative_prompt: the weight"},
		{"/v1/images/generations", `{"prompt":"(x:50)"}`, 400, "prompt: the weight"},
		{"/sdapi/v1/img2img", `{"prompt":"x"}`, 422, "init_images"},
		{"/sdapi/v1/img2img", `{"init_images":["%%%"]}`, 422, "init_images[0]: not valid base64"},
		{"/sdapi/v1/img2img", `{"init_images":["` + notImage + `"]}`, 422, "init_images[0]: not a PNG"},
		{"/sdapi/v1/img2img", `{"init_images":["` + huge + `"]}`, 422, "limit is 4096x4096"},
		{"/sdapi/v1/img2img", `{"init_images":["` + huge + `"],"denoising_strength":0}`, 422, "denoising_strength"},
		{"/sdapi/v1/options", `{"sd_model_checkpoint":"../secret.safetensors"}`, 422, "sd_model_checkpoint"},
		{"/sdapi/v1/options", `{"sd_model_checkpoint":"/etc/passwd"}`, 422, "absolute paths"},
		{"/sdapi/v1/options", `{"sd_model_checkpoint":"nope.safetensors"}`, 422, "unknown model"},
		{"/sdapi/v1/options", `{"sd_model_checkpoint":3}`, 422, "want a string"},
		{"/sdapi/v1/png-info", `{"image":"!!"}`, 422, "image"},
		{"/sdapi/v1/png-info", `{"image":"` + notImage + `"}`, 422, "not a PNG"},
		{"/v1/images/generations", `{"prompt":"x","size":"big"}`, 400, "size"},
		{"/v1/images/generations", `{"prompt":"x","size":"64x60"}`, 400, "size: must be a multiple of 8"},
		{"/v1/images/generations", `{"prompt":"x","response_format":"url"}`, 400, "response_format"},
		{"/v1/images/generations", `{"n":2}`, 400, "prompt"},
		{"/v1/images/generations", `{"prompt":"x","n":20}`, 400, "n: must be between 1 and 8"},
		{"/v1/images/edits", `{"prompt":"x"}`, 400, "multipart"},
		{"/api/jobs", `{"steps":0}`, 400, "steps"},
	} {
		var e map[string]any
		res := call(t, ts, "POST", tc.path, tc.body, &e)
		msg := ""
		switch { // each API's own error shape
		case strings.HasPrefix(tc.path, "/sdapi"):
			msg, _ = e["detail"].(string)
			if e["error"] != http.StatusText(tc.status) || e["errors"] != msg {
				t.Errorf("POST %s %.60s: not A1111's error shape: %v", tc.path, tc.body, e)
			}
		case strings.HasPrefix(tc.path, "/v1/"):
			m, _ := e["error"].(map[string]any)
			msg, _ = m["message"].(string)
			if m["type"] != "invalid_request_error" {
				t.Errorf("POST %s %.60s: not OpenAI's error shape: %v", tc.path, tc.body, e)
			}
		default:
			if m, ok := e["error"].(map[string]any); ok {
				msg, _ = m["message"].(string)
			}
		}
		if res.StatusCode != tc.status || !strings.Contains(msg, tc.field) {
			t.Errorf("POST %s %.60s: %d %q, want %d naming %q", tc.path, tc.body, res.StatusCode, msg, tc.status, tc.field)
		}
	}
	// It goes on serving.
	if res := call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x","steps":1}`, nil); res.StatusCode != 200 {
		t.Errorf("after the bad requests: %d", res.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	q, ran := fakeQueue(1, 4, nil)
	var logs bytes.Buffer
	_, ts := newTest(t, Config{Queue: q, APIKey: "s3cret-key", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, auth := range []string{"", "Bearer wrong", "s3cret-key", "Bearer s3cret-keyX"} {
		req, _ := http.NewRequest("POST", ts.URL+"/sdapi/v1/txt2img", strings.NewReader(`{"prompt":"x","steps":1}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", auth, res.StatusCode)
		}
	}
	n := 0
	ran.Range(func(_, _ any) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d jobs ran without the key", n)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/sdapi/v1/txt2img", strings.NewReader(`{"prompt":"x","steps":1}`))
	req.Header.Set("Authorization", "Bearer s3cret-key")
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("right key: %d", res.StatusCode)
	}
	for _, p := range []string{"/", "/healthz", "/readyz"} {
		if res := call(t, ts, "GET", p, "", nil); res.StatusCode != 200 {
			t.Errorf("GET %s without a key: %d", p, res.StatusCode)
		}
	}
	call(t, ts, "GET", "/nope", "", nil)
	if !strings.Contains(logs.String(), `method=GET route="" status=404`) {
		t.Errorf("no log line for a 404:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Error("the API key is in the log")
	}
	if !strings.Contains(logs.String(), `route="POST /sdapi/v1/txt2img" status=200`) || !strings.Contains(logs.String(), " job=") {
		t.Errorf("log lines:\n%s", logs.String())
	}
}

func TestQueueFull(t *testing.T) {
	block := make(chan struct{})
	q, ran := fakeQueue(1, 1, block)
	s, ts := newTest(t, Config{Queue: q})
	var ids []string
	for range 2 { // one runs, one waits
		var r map[string]any
		if res := call(t, ts, "POST", "/api/jobs", `{"prompt":"x"}`, &r); res.StatusCode != 202 {
			t.Fatalf("status %d %v", res.StatusCode, r)
		}
		ids = append(ids, r["id"].(string))
		waitFor(t, func() bool { j, _ := s.queue.Job(ids[0]); return j.State() == StateRunning })
	}
	res := call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x"}`, nil)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Errorf("full queue: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := call(t, ts, "GET", "/readyz", "", nil); res.StatusCode != 503 {
		t.Errorf("readyz with a full queue: %d", res.StatusCode)
	}
	// The waiting job's stream says it is next.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/jobs/"+ids[1]+"/events", nil)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read until the "queued" event has come (the "state" event may come
	// first, in its own write), at most 4 KiB or 10 s.
	var got []byte
	deadline := time.AfterFunc(10*time.Second, cancel)
	for len(got) < 4096 && !strings.Contains(string(got), `"ahead"`) {
		buf := make([]byte, 512)
		n, err := res.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	deadline.Stop()
	cancel() // closing the stream cancels the job, as DELETE would
	res.Body.Close()
	if !strings.Contains(string(got), `"ahead":0`) {
		t.Errorf("events of a waiting job: %q", got)
	}
	if q.Ahead(ids[1]) != 0 || q.Ahead(ids[0]) != 0 {
		t.Errorf("ahead %d, %d", q.Ahead(ids[0]), q.Ahead(ids[1]))
	}
	// Cancelling the waiting job: it never runs.
	call(t, ts, "DELETE", "/api/jobs/"+ids[1], "", nil)
	close(block)
	waitFor(t, func() bool { j, _ := s.queue.Job(ids[1]); return j.State() == StateCancelled })
	if _, ok := ran.Load(ids[1]); ok {
		t.Error("a job cancelled while it waited was run")
	}
	var v jobView
	call(t, ts, "GET", "/api/jobs/"+ids[0], "", &v)
	waitFor(t, func() bool { call(t, ts, "GET", "/api/jobs/"+ids[0], "", &v); return v.State == StateDone })
	if res := call(t, ts, "GET", "/api/jobs/nope", "", nil); res.StatusCode != 404 {
		t.Errorf("unknown job: %d", res.StatusCode)
	}
}

// syncBuffer is a bytes.Buffer that a server's log and a test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("timed out")
}

func TestMemoryEstimate(t *testing.T) {
	q, ran := fakeQueue(1, 4, nil)
	_, ts := newTest(t, Config{Queue: q, MaxMemory: 100 << 20, Estimate: func(m *pipeline.Model, o pipeline.Options) (int64, error) {
		return int64(o.Width*o.Height) << 10, nil // 4 MiB at 64×64, 64 MiB at 256×256
	}})
	var e map[string]any
	res := call(t, ts, "POST", "/sdapi/v1/txt2img", `{"width":512,"height":512}`, &e)
	if res.StatusCode != 400 || !strings.Contains(e["detail"].(string), "estimated 256 MiB at its peak (model included), more than the 100 MiB") {
		t.Errorf("%d %v", res.StatusCode, e)
	}
	if res := call(t, ts, "POST", "/sdapi/v1/txt2img", `{"width":256,"height":256}`, nil); res.StatusCode != 200 {
		t.Errorf("within the limit: %d", res.StatusCode)
	}
	n := 0
	ran.Range(func(_, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d jobs ran, want 1", n)
	}
}

func TestInterruptAndDisconnect(t *testing.T) {
	var logs syncBuffer
	s, ts := newTest(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	done := make(chan a1111Reply)
	go func() {
		var r a1111Reply
		call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x","steps":150,"n_iter":8}`, &r)
		done <- r
	}()
	var p map[string]any
	waitFor(t, func() bool {
		call(t, ts, "GET", "/sdapi/v1/progress", "", &p)
		return p["state"].(map[string]any)["sampling_step"].(float64) > 0 && p["current_image"] != nil
	})
	if st := p["state"].(map[string]any); st["sampling_steps"] != 150.0 || st["job_count"].(float64) < 1 ||
		p["progress"].(float64) <= 0 || p["progress"].(float64) >= 1 || p["eta_relative"].(float64) <= 0 {
		t.Errorf("progress %v", p)
	}
	if _, err := base64.StdEncoding.DecodeString(p["current_image"].(string)); err != nil {
		t.Errorf("current_image: %v", err)
	}
	call(t, ts, "POST", "/sdapi/v1/interrupt", "", nil)
	select {
	case r := <-done:
		var info map[string]any
		json.Unmarshal([]byte(r.Info), &info)
		if info["interrupted"] != true || len(r.Images) >= 8 {
			t.Errorf("interrupted reply: %d images, info %v", len(r.Images), info)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("interrupt did not stop the job")
	}
	// A client that goes away cancels its job.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/sdapi/v1/txt2img", strings.NewReader(`{"prompt":"x","steps":150,"n_iter":8}`))
	go func() {
		waitFor(t, func() bool { return len(s.queue.Running()) == 1 })
		cancel()
	}()
	if _, err := ts.Client().Do(req); err == nil {
		t.Fatal("the request was not cancelled")
	}
	waitFor(t, func() bool { return s.queue.Stats().Running == 0 })
	waitFor(t, func() bool { return strings.Contains(logs.String(), `status=499`) })
}

func TestEvents(t *testing.T) {
	_, ts := newTest(t, Config{})
	var j map[string]any
	call(t, ts, "POST", "/api/jobs", `{"prompt":"a red circle","steps":5,"seed":3}`, &j)
	res, err := ts.Client().Get(ts.URL + j["events"].(string))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	events := string(b)
	for _, want := range []string{"event: step\n", "event: preview\ndata: {\"image\":\"data:image/png;base64,", "event: done\n", `"seed":3`} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%.2000s", want, events)
		}
	}
	// Cancelling a long job ends its stream with an error event.
	call(t, ts, "POST", "/api/jobs", `{"prompt":"x","steps":150,"n_iter":8}`, &j)
	res, err = ts.Client().Get(ts.URL + j["events"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "event: step") {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
	}
	call(t, ts, "DELETE", "/api/jobs/"+j["id"].(string), "", nil)
	rest, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(rest), "event: error\ndata: {\"id\":\""+j["id"].(string)+"\",\"state\":\"cancelled\"") {
		t.Errorf("after DELETE: %.500s", rest)
	}
}

func TestModelsDirAndOutputDir(t *testing.T) {
	tiny, td := loadTiny(t)
	tiny.Close()
	models, out := t.TempDir(), t.TempDir()
	os.Symlink(filepath.Join(td, "sd_tiny.safetensors"), filepath.Join(models, "tiny.safetensors"))
	os.MkdirAll(filepath.Join(models, "sub"), 0o755)
	os.WriteFile(filepath.Join(out, "00001-5.png"), []byte("keep"), 0o644)
	_, ts := newTest(t, Config{ModelsDir: models, OutputDir: out, Load: func(p string) (*pipeline.Model, error) {
		return pipeline.Load(p, pipeline.LoadOptions{Config: filepath.Join(td, "diffusers")})
	}})
	var list []modelInfo
	call(t, ts, "GET", "/sdapi/v1/sd-models", "", &list)
	if len(list) != 2 || list[1].Title != "tiny.safetensors" || list[1].ModelName != "tiny" {
		t.Fatalf("sd-models %+v", list)
	}
	if res := call(t, ts, "POST", "/sdapi/v1/options", `{"sd_model_checkpoint":"tiny.safetensors [abc123]","samples_format":"png"}`, nil); res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("switch: %d %s", res.StatusCode, b)
	}
	var opts map[string]any
	call(t, ts, "GET", "/sdapi/v1/options", "", &opts)
	if opts["sd_model_checkpoint"] != "tiny.safetensors" {
		t.Errorf("options %v", opts)
	}
	var r a1111Reply
	call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x","steps":2,"width":32,"height":32,"seed":5,"batch_size":2}`, &r)
	if len(r.Images) != 2 {
		t.Fatalf("%d images", len(r.Images))
	}
	if img, _ := decodePNG(t, r.Images[0]); img.Bounds().Dx() != 32 {
		t.Errorf("tiny model image %v", img.Bounds())
	}
	names, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(names) != 3 || filepath.Base(names[1]) != "00002-5.png" || filepath.Base(names[2]) != "00003-6.png" {
		t.Errorf("output dir %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "00001-5.png")); string(b) != "keep" {
		t.Error("an existing file was overwritten")
	}
	if p, err := pipeline.ReadParameters(names[1]); err != nil || !strings.Contains(p, "Seed: 5") {
		t.Errorf("saved parameters %q %v", p, err)
	}
	// Back to sd-mini.
	call(t, ts, "POST", "/sdapi/v1/options", `{"sd_model_checkpoint":"sd-mini"}`, nil)
	call(t, ts, "GET", "/sdapi/v1/options", "", &opts)
	if opts["sd_model_checkpoint"] != "sd-mini" {
		t.Errorf("options %v", opts)
	}
}

func TestMetrics(t *testing.T) {
	_, ts := newTest(t, Config{ModelLoadSeconds: 0.25})
	call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x","steps":2,"n_iter":2}`, nil)
	res := call(t, ts, "GET", "/metrics", "", nil)
	b, _ := io.ReadAll(res.Body)
	for _, want := range []string{`sdgo_jobs_total{outcome="done"} 1`, "sdgo_images_total 2", "sdgo_step_seconds_count 4",
		"sdgo_model_load_seconds 0.25", "sdgo_queue_waiting 0", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// With a TAESD decoder the previews are decoded pictures at full size, not
// the 8×8 latent map.
func TestTAESDPreview(t *testing.T) {
	_, ts := newTest(t, Config{Preview: loadTAESD(t)})
	var j map[string]any
	call(t, ts, "POST", "/api/jobs", `{"prompt":"x","steps":2}`, &j)
	res := call(t, ts, "GET", j["events"].(string), "", nil)
	b, _ := io.ReadAll(res.Body)
	_, after, ok := strings.Cut(string(b), `event: preview`+"\n"+`data: {"image":"data:image/png;base64,`)
	if !ok {
		t.Fatalf("no preview in %.300s", b)
	}
	b64, _, _ := strings.Cut(after, `"`)
	img, _ := decodePNG(t, b64)
	if img.Bounds().Dx() != 64 || img.Bounds().Dy() != 64 {
		t.Errorf("TAESD preview %v, want 64×64", img.Bounds())
	}
}

// panicDecoder panics when asked to decode.
type panicDecoder struct{}

func (panicDecoder) DecodeLatents(*nn.Tensor) (*nn.Tensor, error) { panic("boom") }

// A panic while a job runs fails that job; the server goes on.
func TestRunnerPanic(t *testing.T) {
	s, ts := newTest(t, Config{})
	job := NewJob(context.Background(), pipeline.Options{Prompt: "x", Steps: 2, Decoder: panicDecoder{}})
	if err := s.queue.Submit(job); err != nil {
		t.Fatal(err)
	}
	<-job.Done()
	if st := job.Status(); st.State != StateFailed || st.Err == nil || !strings.Contains(st.Err.Error(), "internal error: boom") {
		t.Errorf("state %s, error %v", st.State, st.Err)
	}
	if res := call(t, ts, "POST", "/sdapi/v1/txt2img", `{"prompt":"x","steps":1}`, nil); res.StatusCode != 200 {
		t.Errorf("after the failed job: %d", res.StatusCode)
	}
}

func TestAhead(t *testing.T) {
	block := make(chan struct{})
	q, _ := fakeQueue(1, 3, block)
	defer q.Close(context.Background())
	defer close(block)
	var jobs []*Job
	for range 3 {
		j := NewJob(context.Background(), pipeline.Options{BatchCount: 1})
		if err := q.Submit(j); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	waitFor(t, func() bool { return jobs[0].State() == StateRunning })
	if a, b := q.Ahead(jobs[1].ID), q.Ahead(jobs[2].ID); a != 0 || b != 1 {
		t.Errorf("ahead %d, %d; want 0, 1", a, b)
	}
	jobs[1].Cancel()
	if b := q.Ahead(jobs[2].ID); b != 0 {
		t.Errorf("after a cancel: ahead %d, want 0", b)
	}
}

// One worker takes the jobs first in, first out.
func TestQueueFIFO(t *testing.T) {
	q, err := NewEmbeddedQueue("", "", JetStreamOptions{Capacity: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())
	var mu sync.Mutex
	var order []uint64
	release := make(chan struct{})
	q.Work(BuiltinModel, 1, func(ctx context.Context, j *Job) error {
		mu.Lock()
		order = append(order, j.Options.Seed)
		mu.Unlock()
		if j.Options.Seed == 0 {
			<-release // the others queue up behind the first
		}
		j.Finish(nil, nil)
		return nil
	})
	var jobs []*Job
	for i := range 6 {
		j := NewJob(context.Background(), pipeline.Options{Prompt: "x", Steps: 1, BatchCount: 1, Seed: uint64(i)})
		j.Model = BuiltinModel
		if err := q.Submit(j); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
		if i == 0 {
			waitFor(t, func() bool { return j.State() == StateRunning })
		}
	}
	close(release)
	for _, j := range jobs {
		<-j.Done()
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != "[0 1 2 3 4 5]" {
		t.Errorf("jobs ran in the order %v", order)
	}
}

// The limits' defaults are the documented ones, and a raised limit lets
// through what the default refuses.
func TestLimits(t *testing.T) {
	if got, want := (Limits{}).withDefaults(), (Limits{MaxWidth: 2048, MaxHeight: 2048, MaxSteps: 150, MaxBatch: 8, MaxBody: 50 << 20, MaxImageSide: 4096}); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	q, _ := fakeQueue(1, 4, nil)
	_, ts := newTest(t, Config{Queue: q, Limits: Limits{MaxSteps: 200, MaxBatch: 10, MaxWidth: 4096}})
	for _, body := range []string{`{"steps":200}`, `{"batch_size":10}`, `{"width":4096,"height":64}`} {
		if res := call(t, ts, "POST", "/sdapi/v1/txt2img", body, nil); res.StatusCode != 200 {
			t.Errorf("%s with the limit raised: %d", body, res.StatusCode)
		}
	}
	for _, body := range []string{`{"steps":201}`, `{"batch_size":11}`, `{"height":4096}`} {
		if res := call(t, ts, "POST", "/sdapi/v1/txt2img", body, nil); res.StatusCode != 422 {
			t.Errorf("%s past the raised limit: %d", body, res.StatusCode)
		}
	}
}
