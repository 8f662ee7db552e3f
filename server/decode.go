package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // init images may be JPEG
	_ "image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	_ "golang.org/x/image/webp" // and WebP, which browsers and A1111 clients send

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/scheduler"
)

// This file is the one place where requests are decoded and validated: every
// API's fields become a genRequest, and genRequest.options turns that into
// pipeline.Options. A new pipeline option is one field here and one line in
// options.

// Limits bound what one request may ask for. The zero value of a field means
// its default (see DefaultLimits).
type Limits struct {
	MaxWidth, MaxHeight int   // pixels (2048)
	MaxSteps            int   // sampler steps (150)
	MaxBatch            int   // images per request, batch_size × n_iter (8)
	MaxBody             int64 // request body bytes (50 MB)
	MaxImageSide        int   // width or height of a decoded input image (4096)
}

// maxPrompt bounds a prompt's length in bytes: about 60 chunks of 75 tokens,
// far past any real prompt, and short enough that the text encoder cannot be
// kept busy for minutes by one request.
const maxPrompt = 16 << 10

// DefaultLimits are the limits a server has unless told otherwise.
var DefaultLimits = Limits{MaxWidth: 2048, MaxHeight: 2048, MaxSteps: 150, MaxBatch: 8, MaxBody: 50 << 20, MaxImageSide: 4096}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxWidth, d.MaxWidth)
	set(&l.MaxHeight, d.MaxHeight)
	set(&l.MaxSteps, d.MaxSteps)
	set(&l.MaxBatch, d.MaxBatch)
	set(&l.MaxImageSide, d.MaxImageSide)
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	return l
}

// fieldError is a bad request naming the JSON field at fault.
type fieldError struct {
	Field, Msg string
}

func (e *fieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func badField(field, format string, a ...any) error {
	return &fieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// genRequest is a generation request in AUTOMATIC1111's field names, as
// /sdapi/v1/txt2img and img2img take it; the page's /api/jobs and the OpenAI
// routes are turned into one too. Fields hold their defaults before the
// body is decoded over them, so an absent (or null) field keeps its default.
type genRequest struct {
	Prompt            string         `json:"prompt"`
	NegativePrompt    string         `json:"negative_prompt"`
	Steps             int            `json:"steps"`
	CFGScale          float64        `json:"cfg_scale"`
	Width             int            `json:"width"`  // 0: the model's native size (or the init image's)
	Height            int            `json:"height"` // 0: likewise
	Seed              int64          `json:"seed"`   // -1: random
	Subseed           any            `json:"subseed,omitempty"`
	SamplerName       string         `json:"sampler_name"`
	SamplerIndex      string         `json:"sampler_index,omitempty"` // older clients' name for sampler_name
	Scheduler         string         `json:"scheduler"`
	BatchSize         int            `json:"batch_size"`
	NIter             int            `json:"n_iter"`
	OverrideSettings  map[string]any `json:"override_settings,omitempty"`
	InitImages        []string       `json:"init_images,omitempty"`
	DenoisingStrength float64        `json:"denoising_strength"`
	SendImages        bool           `json:"send_images"`
	SaveImages        bool           `json:"save_images"`
	RNG               string         `json:"rng,omitempty"` // sdgo's: torch-cpu (default) or cuda
	inpaintRequest                   // mask, mask_blur, inpainting_fill, … (img2img)

	initImage  image.Image // decoded from InitImages[0]
	randomSeed *uint32     // when set, what seed -1 becomes (else a random one)
}

// ParseTxt2Img checks one AUTOMATIC1111 txt2img request (the JSON body of
// POST /sdapi/v1/txt2img) as the server would and returns its options, or
// an error naming the JSON field at fault. title is the model's title (its
// default guidance scale); m, when not nil, is the model to check against
// (else the worker that runs the job checks the size and the model's
// native size fills a width or height of 0). Seed -1 becomes randomSeed.
func ParseTxt2Img(body []byte, title string, m *pipeline.Model, randomSeed uint32) (pipeline.Options, error) {
	g := newGenRequest(defaultCFGFor(title))
	if err := unmarshal(body, &g); err != nil {
		return pipeline.Options{}, err
	}
	if len(g.InitImages) > 0 || g.Mask != "" {
		return pipeline.Options{}, badField("init_images", "a txt2img request takes no image (img2img is not batched)")
	}
	g.randomSeed = &randomSeed
	return g.options(DefaultLimits, m)
}

// newGenRequest returns a request holding the defaults.
func newGenRequest(defaultCFG float64) genRequest {
	return genRequest{Steps: 20, CFGScale: defaultCFG, Seed: -1, SamplerName: "Euler a", BatchSize: 1, NIter: 1,
		DenoisingStrength: 0.75, SendImages: true}
}

// decodeJSON reads one JSON object from r's body into v, naming the field
// of a type error.
func decodeJSON(w http.ResponseWriter, r *http.Request, maxBody int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &fieldError{Msg: fmt.Sprintf("request body is larger than %d bytes", maxBody)}
		}
		return &fieldError{Msg: "reading the request body: " + err.Error()}
	}
	return unmarshal(body, v)
}

func unmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &typ) && typ.Field != "":
			return badField(typ.Field, "want a JSON %s, got %s", jsonKind(typ.Type), typ.Value)
		case errors.As(err, &typ):
			return &fieldError{Msg: fmt.Sprintf("the body must be a JSON object, got a JSON %s", typ.Value)}
		case errors.As(err, &syn):
			return &fieldError{Msg: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, err)}
		case errors.Is(err, io.EOF):
			return &fieldError{Msg: "empty request body; want a JSON object"}
		default:
			return &fieldError{Msg: "malformed JSON: " + err.Error()}
		}
	}
	if dec.More() {
		return &fieldError{Msg: "malformed JSON: more than one value in the body"}
	}
	return nil
}

// jsonKind names the JSON kind a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "object"
}

// samplerNames maps AUTOMATIC1111's sampler names to sdgo's.
var samplerNames = map[string]string{
	"euler a": "euler_a", "euler": "euler", "lms": "lms", "heun": "heun", "dpm++ 2m": "dpm++2m",
	"ddim": "ddim", "plms": "pndm", "lcm": "lcm", "ddpm": "ddpm",
}

// samplerList is what /sdapi/v1/samplers lists, in A1111's order.
var samplerList = []string{"DPM++ 2M", "Euler a", "Euler", "LMS", "Heun", "DDIM", "PLMS", "DDPM", "LCM"}

// parseSampler turns an A1111 sampler (and scheduler) name into sdgo's name
// and whether Karras sigmas are asked for. sdgo's own names are accepted too.
func parseSampler(name, sched string) (string, bool, error) {
	karras := false
	n := strings.ToLower(strings.TrimSpace(name))
	if s, ok := strings.CutSuffix(n, " karras"); ok {
		n, karras = s, true
	}
	if n == "" {
		n = "euler a"
	}
	s, ok := samplerNames[n]
	if !ok {
		for _, own := range scheduler.Names() {
			if n == own {
				s, ok = own, true
			}
		}
	}
	if !ok {
		return "", false, badField("sampler_name", "unknown sampler %q (want one of %s)", name, strings.Join(samplerList, ", "))
	}
	switch strings.ToLower(sched) {
	case "", "automatic", "uniform", "normal":
	case "karras":
		karras = true
	default:
		return "", false, badField("scheduler", "unknown schedule type %q (want Automatic or Karras)", sched)
	}
	return s, karras, nil
}

// decodeImage decodes a base64 PNG, JPEG or WebP (with or without a data:
// URL prefix), checking its size from the header before decoding it.
func decodeImage(field, s string, maxSide int) (image.Image, error) {
	if strings.HasPrefix(s, "data:") {
		_, after, ok := strings.Cut(s, ",")
		if !ok {
			return nil, badField(field, "data URL without a comma")
		}
		s = after
	}
	s = strings.TrimSpace(s)
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil, badField(field, "not valid base64: %v", err)
		}
	}
	return decodeImageBytes(field, data, maxSide)
}

func decodeImageBytes(field string, data []byte, maxSide int) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, badField(field, "not a PNG, JPEG or WebP image: %v", err)
	}
	if cfg.Width > maxSide || cfg.Height > maxSide || cfg.Width < 1 || cfg.Height < 1 {
		return nil, badField(field, "image is %dx%d, the limit is %dx%d", cfg.Width, cfg.Height, maxSide, maxSide)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, badField(field, "cannot decode the image: %v", err)
	}
	return img, nil
}

// options validates the request against the limits and the model and turns
// it into pipeline options. It fills the request's resolved values (size,
// seed) so that the reply's parameters show what was run.
func (g *genRequest) options(lim Limits, m *pipeline.Model) (pipeline.Options, error) {
	var o pipeline.Options
	finite := func(field string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return badField(field, "must be a finite number")
		}
		return nil
	}
	if err := finite("cfg_scale", g.CFGScale); err != nil {
		return o, err
	}
	if err := finite("denoising_strength", g.DenoisingStrength); err != nil {
		return o, err
	}
	if g.SamplerName == "" && g.SamplerIndex != "" {
		g.SamplerName = g.SamplerIndex
	}
	sampler, karras, err := parseSampler(g.SamplerName, g.Scheduler)
	if err != nil {
		return o, err
	}
	clipSkip := 1
	if v, ok := g.OverrideSettings["CLIP_stop_at_last_layers"]; ok && v != nil {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < 1 || f > 12 {
			return o, badField("override_settings.CLIP_stop_at_last_layers", "must be a whole number from 1 to 12, got %v", v)
		}
		clipSkip = int(f)
	}
	mult := 1 // without the model (a client of a shared queue), its worker checks the size
	if m != nil {
		if max := m.Text.Config.Layers - m.TextSkip + 1; clipSkip > max {
			return o, badField("override_settings.CLIP_stop_at_last_layers", "this model's text encoder allows 1 to %d, got %d", max, clipSkip)
		}
		mult = m.VAEFactor() // one latent cell; the U-Net takes any latent size
	}
	switch {
	case len(g.Prompt) > maxPrompt:
		return o, badField("prompt", "is %d bytes, the limit is %d", len(g.Prompt), maxPrompt)
	case len(g.NegativePrompt) > maxPrompt:
		return o, badField("negative_prompt", "is %d bytes, the limit is %d", len(g.NegativePrompt), maxPrompt)
	case g.Steps < 1 || g.Steps > lim.MaxSteps:
		return o, badField("steps", "must be between 1 and %d, got %d", lim.MaxSteps, g.Steps)
	case g.CFGScale < 0 || g.CFGScale > 100:
		return o, badField("cfg_scale", "must be between 0 and 100, got %g", g.CFGScale)
	case g.Width < 0 || g.Width > lim.MaxWidth || g.Width%mult != 0:
		return o, badField("width", "must be a multiple of %d from %d to %d, got %d", mult, mult, lim.MaxWidth, g.Width)
	case g.Height < 0 || g.Height > lim.MaxHeight || g.Height%mult != 0:
		return o, badField("height", "must be a multiple of %d from %d to %d, got %d", mult, mult, lim.MaxHeight, g.Height)
	case g.Seed < -1 || g.Seed > math.MaxUint32:
		return o, badField("seed", "must be -1 (random) or from 0 to %d, got %d", uint32(math.MaxUint32), g.Seed)
	case g.BatchSize < 1 || g.BatchSize > lim.MaxBatch:
		return o, badField("batch_size", "must be between 1 and %d, got %d", lim.MaxBatch, g.BatchSize)
	case g.NIter < 1 || g.NIter > lim.MaxBatch:
		return o, badField("n_iter", "must be between 1 and %d, got %d", lim.MaxBatch, g.NIter)
	case g.BatchSize*g.NIter > lim.MaxBatch:
		return o, badField("n_iter", "batch_size × n_iter must be at most %d, got %d", lim.MaxBatch, g.BatchSize*g.NIter)
	case g.RNG != "" && g.RNG != string(pipeline.TorchCPU) && g.RNG != string(pipeline.CUDA):
		return o, badField("rng", "must be %s or %s, got %q", pipeline.TorchCPU, pipeline.CUDA, g.RNG)
	}
	// (word:w) weights out of range: the client's error, found before the
	// job is queued (Generate's own check would fail it three times as the
	// server's).
	if err := pipeline.CheckPromptWeights(g.Prompt); err != nil {
		return o, badField("prompt", "%v", err)
	}
	if err := pipeline.CheckPromptWeights(g.NegativePrompt); err != nil {
		return o, badField("negative_prompt", "%v", err)
	}
	if len(g.InitImages) > 0 {
		if g.DenoisingStrength <= 0 || g.DenoisingStrength > 1 {
			return o, badField("denoising_strength", "must be in (0, 1], got %g", g.DenoisingStrength)
		}
		if g.initImage == nil {
			if g.initImage, err = decodeImage("init_images[0]", g.InitImages[0], lim.MaxImageSide); err != nil {
				return o, err
			}
		}
		if g.Width == 0 && g.Height == 0 { // the image's size, rounded down
			b := g.initImage.Bounds()
			g.Width, g.Height = min(b.Dx()/mult*mult, lim.MaxWidth), min(b.Dy()/mult*mult, lim.MaxHeight)
			if g.Width == 0 || g.Height == 0 {
				return o, badField("init_images[0]", "image is %dx%d, smaller than %dx%d", b.Dx(), b.Dy(), mult, mult)
			}
		}
	}
	if g.Width == 0 && m != nil { // else the worker's model's size
		g.Width = m.NativeSize()
	}
	if g.Height == 0 && m != nil {
		g.Height = m.NativeSize()
	}
	if g.Seed == -1 {
		g.Seed = int64(rand.Uint32())
		if g.randomSeed != nil {
			g.Seed = int64(*g.randomSeed)
		}
	}
	o = pipeline.Options{
		Prompt:         g.Prompt,
		NegativePrompt: g.NegativePrompt,
		Width:          g.Width,
		Height:         g.Height,
		Steps:          g.Steps,
		CFGScale:       g.CFGScale,
		Seed:           uint64(g.Seed),
		BatchCount:     g.BatchSize * g.NIter,
		Sampler:        sampler,
		Karras:         karras,
		ClipSkip:       clipSkip,
		RNG:            pipeline.RNG(g.RNG),
	}
	if o.CFGScale == 0 {
		o.CFGScale = 1 // 0 would mean "default" to the library
	}
	if g.initImage != nil {
		o.InitImage, o.Strength = g.initImage, g.DenoisingStrength
	}
	if g.Mask != "" && g.initImage == nil {
		return o, badField("mask", "inpainting needs init_images: the image to repaint")
	}
	if o.Inpaint, err = g.inpaint(lim.MaxImageSide); err != nil {
		return o, err
	}
	if err := pipeline.CheckMask(o); err != nil {
		return o, badField("mask", "%v", err)
	}
	return o, nil
}

// openAIRequest is OpenAI's POST /v1/images/generations body, with the extra
// fields stable-diffusion.cpp's sd-server accepts.
type openAIRequest struct {
	Prompt         string   `json:"prompt"`
	N              int      `json:"n"`
	Size           string   `json:"size"`
	ResponseFormat string   `json:"response_format"`
	Model          string   `json:"model"` // ignored: the loaded model answers
	NegativePrompt string   `json:"negative_prompt"`
	Seed           *int64   `json:"seed"`
	Steps          *int     `json:"steps"`
	CFGScale       *float64 `json:"cfg_scale"`
	SamplerName    string   `json:"sampler_name"`
	Strength       *float64 `json:"strength"` // edits: denoising strength
}

// genRequest turns an OpenAI request into the common form.
func (r *openAIRequest) genRequest(defaultCFG float64) (genRequest, error) {
	g := newGenRequest(defaultCFG)
	g.Prompt, g.NegativePrompt = r.Prompt, r.NegativePrompt
	if r.Prompt == "" {
		return g, badField("prompt", "is required")
	}
	if r.N != 0 {
		g.BatchSize = r.N
		if r.N < 1 {
			return g, badField("n", "must be at least 1, got %d", r.N)
		}
	}
	switch r.ResponseFormat {
	case "", "b64_json":
	default:
		return g, badField("response_format", "only b64_json is supported, got %q", r.ResponseFormat)
	}
	if r.Size != "" && r.Size != "auto" {
		ws, hs, ok := strings.Cut(r.Size, "x")
		w, err1 := strconv.Atoi(ws)
		h, err2 := strconv.Atoi(hs)
		if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
			return g, badField("size", `want "WIDTHxHEIGHT" such as "512x512", got %q`, r.Size)
		}
		g.Width, g.Height = w, h
	}
	if r.Seed != nil {
		g.Seed = *r.Seed
	}
	if r.Steps != nil {
		g.Steps = *r.Steps
	}
	if r.CFGScale != nil {
		g.CFGScale = *r.CFGScale
	}
	if r.SamplerName != "" {
		g.SamplerName = r.SamplerName
	}
	if r.Strength != nil {
		g.DenoisingStrength = *r.Strength
	}
	return g, nil
}

// decodeOpenAIEdit reads the multipart form of POST /v1/images/edits.
func decodeOpenAIEdit(w http.ResponseWriter, r *http.Request, lim Limits, defaultCFG float64) (genRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBody)
	if err := r.ParseMultipartForm(min(lim.MaxBody, 32<<20)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return genRequest{}, &fieldError{Msg: fmt.Sprintf("request body is larger than %d bytes", lim.MaxBody)}
		}
		return genRequest{}, &fieldError{Msg: "want a multipart/form-data body: " + err.Error()}
	}
	defer r.MultipartForm.RemoveAll()
	req := openAIRequest{Prompt: r.FormValue("prompt"), Size: r.FormValue("size"), ResponseFormat: r.FormValue("response_format"),
		NegativePrompt: r.FormValue("negative_prompt"), SamplerName: r.FormValue("sampler_name")}
	num := func(field string, set func(string) error) error {
		if v := r.FormValue(field); v != "" {
			if err := set(v); err != nil {
				return badField(field, "not a number: %q", v)
			}
		}
		return nil
	}
	var err error
	for _, e := range []error{
		num("n", func(v string) error { req.N, err = strconv.Atoi(v); return err }),
		num("seed", func(v string) error { s, err := strconv.ParseInt(v, 10, 64); req.Seed = &s; return err }),
		num("steps", func(v string) error { s, err := strconv.Atoi(v); req.Steps = &s; return err }),
		num("cfg_scale", func(v string) error { s, err := strconv.ParseFloat(v, 64); req.CFGScale = &s; return err }),
		num("strength", func(v string) error { s, err := strconv.ParseFloat(v, 64); req.Strength = &s; return err }),
	} {
		if e != nil {
			return genRequest{}, e
		}
	}
	g, err := req.genRequest(defaultCFG)
	if err != nil {
		return g, err
	}
	files := r.MultipartForm.File["image"]
	if len(files) == 0 {
		files = r.MultipartForm.File["image[]"]
	}
	if len(files) == 0 {
		return g, badField("image", "is required (a PNG, JPEG or WebP file part)")
	}
	f, err := files[0].Open()
	if err != nil {
		return g, badField("image", "%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return g, badField("image", "%v", err)
	}
	if g.initImage, err = decodeImageBytes("image", data, lim.MaxImageSide); err != nil {
		return g, err
	}
	g.InitImages = []string{"(multipart image)"}
	return g, nil
}

// exploreRequest is POST /api/explore's body: one image in genRequest's
// field names, plus what the Explore page may ask for.
type exploreRequest struct {
	genRequest
	// Attention asks for the cross-attention maps (default true); they are
	// captured only on latents of at most maxAttentionCells cells.
	Attention *bool `json:"attention"`
}

// maxAttentionCells bounds the latents whose cross-attention maps an
// exploration captures: 64×64 cells, SD 1.x at 512×512. Recomputing the
// attention of every transformer at every step costs about a U-Net pass
// more per step, and the maps' memory grows with cells × tokens × levels.
const maxAttentionCells = 64 * 64

// options validates an exploration: one image, no init image, then the
// common checks of genRequest.options.
func (e *exploreRequest) options(lim Limits, m *pipeline.Model) (pipeline.Options, error) {
	switch {
	case e.BatchSize != 1:
		return pipeline.Options{}, badField("batch_size", "an exploration makes one image, got %d", e.BatchSize)
	case e.NIter != 1:
		return pipeline.Options{}, badField("n_iter", "an exploration makes one image, got %d", e.NIter)
	case len(e.InitImages) > 0:
		return pipeline.Options{}, badField("init_images", "an exploration starts from noise (text to image only)")
	}
	return e.genRequest.options(lim, m)
}
