package server

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"

	"github.com/sdgo/sdgo/internal/figure"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/prompt"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
)

// The Explore page (GET /explore) and its stream (POST /api/explore): one
// generation with every stage kept and sent to the browser as it is
// computed, as small PNGs (data: URLs) and JSON, never raw tensors.
//
// Events, in this order:
//
//	start      the settings run (size, steps, sampler, guidance, seed)
//	tokens     the prompt's chunks of 77 slots: piece, id, kind, weight
//	text       the contexts (with and without the prompt) as heat maps, their per-token norms
//	attention  the U-Net levels and the words the maps are for, or why there are none
//	step       once per sampler step: timestep, σ, the schedule, the timestep features and
//	           embedding, the latent, x̂₀ decoded, the noise predictions, the attention maps
//	decode     the final latent, the decoded image, the VAE's scaling factor
//	done       the time taken
//
// or "error" at any point. Explorations run one at a time, beside the job
// queue (the page is for learning, not for throughput).

//go:embed static/explore.html
var explorePage []byte

func (s *Server) explorePage(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
	w.Write(explorePage)
	return nil
}

// exploreToken is one of a chunk's 77 slots.
type exploreToken struct {
	ID     int     `json:"id"`
	Piece  string  `json:"piece"`
	Kind   string  `json:"kind"` // "start", "word", "end" or "pad"
	Weight float32 `json:"weight"`
}

// exploreWord is a word the attention maps are drawn for: its slot in the
// context (chunk·77 + position).
type exploreWord struct {
	Slot   int     `json:"slot"`
	Piece  string  `json:"piece"`
	Weight float32 `json:"weight"` // its emphasis
}

// maxAttentionWords bounds the maps sent per level and step.
const maxAttentionWords = 75

func (s *Server) explore(w http.ResponseWriter, r *http.Request) error {
	lm, release := s.models.acquire()
	defer release()
	req := exploreRequest{genRequest: newGenRequest(lm.defaultCFG)}
	if err := decodeJSON(w, r, s.lim.MaxBody, &req); err != nil {
		return err
	}
	opts, err := req.options(s.lim, lm.model)
	if err != nil {
		return err
	}
	var need, limit int64 // the generation's estimated peak and --max-memory, when the server has a limit
	if s.cfg.Estimate != nil && s.cfg.MaxMemory > 0 {
		limit = s.cfg.MaxMemory
		need, err = s.cfg.Estimate(lm.model, opts)
		if err != nil {
			return fmt.Errorf("estimating the exploration's memory: %w", err)
		}
		if need > s.cfg.MaxMemory {
			return badField("width", "this exploration needs an estimated %d MiB, more than the %d MiB the server allows (--max-memory); make the image smaller",
				need>>20, s.cfg.MaxMemory>>20)
		}
	}
	if !s.exploring.TryLock() {
		return &httpError{status: http.StatusServiceUnavailable, err: fmt.Errorf("another exploration is running; try again when it is done"),
			header: map[string]string{"Retry-After": "5"}}
	}
	defer s.exploring.Unlock()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ex := &exploration{m: lm.model, opts: opts, preview: s.cfg.Preview, send: func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return errDisconnect
		}
		return rc.Flush()
	}}
	ex.attention = req.Attention == nil || *req.Attention
	ex.need, ex.maxMemory = need, limit
	if err := ex.run(r); err != nil {
		if r.Context().Err() != nil {
			return errDisconnect
		}
		ex.send("error", map[string]any{"error": err.Error()})
	}
	return nil
}

// exploration is one run of the Explore page.
type exploration struct {
	m         *pipeline.Model
	opts      pipeline.Options
	preview   *vae.TinyDecoder
	send      func(event string, v any) error
	attention bool
	need      int64 // the generation's estimated peak memory, and the server's
	maxMemory int64 // limit (--max-memory), when it has one; else 0

	words    []exploreWord
	timeProj []float32 // the current step's sinusoidal features (C0)
	timeEmb  []float32 // and embedding (4·C0)
	sendErr  error     // the first error of a send in a hook
}

func (ex *exploration) run(r *http.Request) error {
	m, o := ex.m, ex.opts
	f := m.VAEFactor()
	h, w := o.Height/f, o.Width/f
	sampler := o.Sampler
	if o.Karras {
		sampler += " (Karras)"
	}
	if err := ex.send("start", map[string]any{"width": o.Width, "height": o.Height, "latent": []int{m.UNet.Config.InChannels, h, w},
		"steps": o.Steps, "sampler": sampler, "cfg_scale": o.CFGScale, "seed": o.Seed, "prompt": o.Prompt,
		"negative_prompt": o.NegativePrompt}); err != nil {
		return err
	}
	chunks, uncond := ex.chunks(o.Prompt), ex.chunks(o.NegativePrompt)
	if err := ex.send("tokens", map[string]any{"chunks": chunks, "slots": tokenizer.ContextLength,
		"weighted": weighted(chunks), "uncond": uncond}); err != nil {
		return err
	}
	for c, ch := range chunks {
		for i, t := range ch {
			if t.Kind == "word" && len(ex.words) < maxAttentionWords {
				ex.words = append(ex.words, exploreWord{Slot: c*tokenizer.ContextLength + i, Piece: t.Piece, Weight: t.Weight})
			}
		}
	}

	// A private copy of the model whose U-Net reports to this run alone:
	// the weights are shared, read-only, with the queue's jobs.
	st := &pipeline.Stages{}
	var attn *figure.CrossAttention
	model := m.Traced(func(name string, t *nn.Tensor) {
		switch name {
		case "time_proj":
			ex.timeProj = append(ex.timeProj[:0], t.Data[:t.Shape[1]]...)
		case "time_embedding":
			ex.timeEmb = append(ex.timeEmb[:0], t.Data[:t.Shape[1]]...)
		}
		if attn != nil {
			attn.Trace(name, t)
		}
	})
	attnBytes := attentionMemory(m.UNet.Config, h, w, tokenizer.ContextLength*max(len(chunks), len(uncond), 1))
	attnNote := ""
	switch {
	case !ex.attention:
		attnNote = "attention maps were not asked for"
	case h*w > maxAttentionCells:
		attnNote = fmt.Sprintf("attention maps are captured only for latents of at most %d cells (512×512 for SD 1.x); this run's is %d×%d", maxAttentionCells, w, h)
	case ex.maxMemory > 0 && ex.need+attnBytes > ex.maxMemory:
		attnNote = fmt.Sprintf("attention maps would take an estimated %d MiB more than this run's %d MiB, past the %d MiB the server allows (--max-memory); make the image smaller to see them",
			attnBytes>>20, ex.need>>20, ex.maxMemory>>20)
	case len(ex.words) == 0:
		attnNote = "the prompt has no words to show attention for"
	default:
		attn = figure.NewCrossAttention(model.UNet, func() *nn.Tensor { return st.Tensor("context_cond") }, h, w)
	}
	textSent := false
	var final *nn.Tensor // the last step's latent
	o.Stages = st
	o.Inspect = func(d pipeline.StepDetail) {
		if ex.sendErr != nil {
			return
		}
		if !textSent {
			textSent = true
			if ex.sendErr = ex.sendText(st); ex.sendErr != nil {
				return
			}
			levels := []string{}
			if attn != nil {
				levels = attn.Levels()
			}
			if ex.sendErr = ex.send("attention", map[string]any{"levels": levels, "words": ex.words, "note": attnNote,
				"width": w, "height": h}); ex.sendErr != nil {
				return
			}
		}
		final = nn.From(append([]float32(nil), d.Latents.Data...), d.Latents.Shape...)
		ex.sendErr = ex.sendStep(d, attn)
		if attn != nil {
			attn.Reset()
		}
	}
	res, err := model.Generate(r.Context(), o)
	if ex.sendErr != nil {
		return ex.sendErr
	}
	if err != nil {
		return err
	}
	if attn != nil && attn.Err() != nil {
		return attn.Err()
	}
	img, err := pngURL(res[0].Image)
	if err != nil {
		return err
	}
	ev := map[string]any{"image": img, "scaling_factor": m.VAE.Config.ScalingFactor, "factor": f,
		"width": o.Width, "height": o.Height, "parameters": res[0].Parameters}
	if final != nil {
		if ev["latent"], err = pngURL(vae.Preview(final)); err != nil {
			return err
		}
	}
	if err := ex.send("decode", ev); err != nil {
		return err
	}
	return ex.send("done", map[string]any{})
}

// attentionMemory estimates, in bytes, what the cross-attention maps of an
// exploration take beyond its generation, for a latent of h×w cells and a
// context of tokens slots: the sums figure.CrossAttention keeps (every
// level's and their total, a float64 per slot and cell) and the peak of
// recomputing one transformer's probabilities (the level's pixel features a
// few times over, and (heads, N, tokens) probabilities twice).
func attentionMemory(c unet.Config, h, w, tokens int) int64 {
	cells, m := int64(h*w), int64(tokens)
	levels := int64(len(c.DownBlockTypes) + 1 + len(c.UpBlockTypes))
	sums := (levels + 1) * m * cells * 8
	var peak int64
	for i, ch := range c.BlockOutChannels {
		n := cells >> (2 * i) // the level's pixels
		heads := int64(1)
		if i < len(c.Heads) {
			heads = int64(c.Heads[i])
		}
		peak = max(peak, 4*(5*n*int64(ch)+(2*heads+1)*n*m))
	}
	return sums + peak
}

// chunks splits text as the pipeline does (emphasis, BREAK, 75-token
// chunks) into the 77 slots the text encoder reads.
func (ex *exploration) chunks(text string) [][]exploreToken {
	tok := ex.m.Tokenizer
	comma, ok := tok.ID(",</w>")
	if !ok {
		comma = -1
	}
	pad := tok.EOS()
	if ex.m.Pad == tokenizer.PadSD2 {
		pad = 0
	}
	var out [][]exploreToken
	for _, c := range prompt.Chunks(prompt.Parse(text), prompt.Vocab{Encode: tok.Encode, BOS: tok.BOS(), EOS: tok.EOS(), Pad: pad, Comma: comma}) {
		slots := make([]exploreToken, len(c.IDs))
		ended := false
		for i, id := range c.IDs {
			kind := "word"
			switch {
			case i == 0 && id == tok.BOS():
				kind = "start"
			case ended:
				kind = "pad"
			case id == tok.EOS():
				kind, ended = "end", true
			}
			slots[i] = exploreToken{ID: id, Piece: tok.Piece(id), Kind: kind, Weight: c.Weights[i]}
		}
		out = append(out, slots)
	}
	return out
}

func weighted(chunks [][]exploreToken) bool {
	for _, c := range chunks {
		for _, t := range c {
			if t.Weight != 1 {
				return true
			}
		}
	}
	return false
}

// sendText sends the text encoder's outputs: heat maps of the contexts and
// their per-token norms.
func (ex *exploration) sendText(st *pipeline.Stages) error {
	ev := map[string]any{}
	var norms [][]float32
	var names []string
	for _, which := range []string{"cond", "uncond"} {
		c := st.Tensor("context_" + which) // (1, 77·k, D)
		if c == nil {
			continue
		}
		m, d := c.Shape[1], c.Shape[2]
		url, err := pngURL(figure.Matrix(c.Data, m, d))
		if err != nil {
			return err
		}
		n := make([]float32, m)
		for t := range m {
			var s float64
			for _, v := range c.Data[t*d : (t+1)*d] {
				s += float64(v) * float64(v)
			}
			n[t] = float32(math.Sqrt(s))
		}
		ev[which] = url
		ev["tokens"], ev["dim"] = m, d
		norms = append(norms, n)
		names = append(names, map[string]string{"cond": "with the prompt", "uncond": "negative prompt"}[which])
	}
	url, err := pngURL(figure.Curves("per-token norm of the context", "slot", 560, 200, names, norms...))
	if err != nil {
		return err
	}
	ev["norms"] = url
	return ex.send("text", ev)
}

// sendStep sends one step's pictures.
func (ex *exploration) sendStep(d pipeline.StepDetail, attn *figure.CrossAttention) error {
	ev := map[string]any{"step": d.Step, "steps": len(d.Timesteps), "timestep": d.Timestep}
	if d.Sigmas != nil {
		ev["sigma"] = d.Sigmas[d.Step]
	}
	var err error
	add := func(key string, img image.Image) {
		if err == nil && img != nil {
			ev[key], err = pngURL(img)
		}
	}
	sched, serr := figure.StepOnSchedule(ex.m.Scheduler, d.Timesteps, d.Step)
	if serr != nil {
		return serr
	}
	add("schedule", sched)
	add("latent", vae.Preview(d.Latents))
	if ex.preview != nil { // the latent as TAESD sees it, beside the cheap map
		if img, derr := figure.Decoded(ex.preview, d.Latents); derr == nil {
			add("latent_taesd", img)
		}
	}
	if d.X0 != nil {
		x0, how := ex.decode(d.X0)
		add("x0", x0)
		ev["x0_decoder"] = how
	}
	add("eps_cond", vae.Preview(d.EpsCond))
	if d.EpsUncond != nil {
		add("eps_uncond", vae.Preview(d.EpsUncond))
	}
	add("eps", vae.Preview(d.Eps))
	if len(ex.timeProj) > 0 {
		add("time_proj", figure.Curves(fmt.Sprintf("sinusoidal features of t = %.1f", d.Timestep), "feature", 400, 180, nil, ex.timeProj))
	}
	if len(ex.timeEmb) > 0 {
		add("time_embedding", figure.Curves("the timestep embedding (its MLP's output)", "feature", 400, 180, nil, ex.timeEmb))
	}
	if attn != nil && err == nil {
		maps := map[string]string{}
		for _, level := range attn.Levels() {
			var sprite image.Image
			if sprite, err = ex.attentionSprite(attn, level); err != nil {
				return err
			}
			if maps[level], err = pngURL(sprite); err != nil {
				return err
			}
		}
		ev["attention"] = maps
	}
	if err != nil {
		return err
	}
	return ex.send("step", ev)
}

// attentionSprite lays the words' maps at one level side by side, each
// w×h of the latent, coloured over the level's common range so that words
// compare.
func (ex *exploration) attentionSprite(attn *figure.CrossAttention, level string) (image.Image, error) {
	w, h := attn.W, attn.H
	all := make([]float64, 0, len(ex.words)*w*h)
	for _, word := range ex.words {
		v := attn.LevelMapOf(level, word.Slot)
		if v == nil {
			return nil, fmt.Errorf("attention maps: level %s has no map for slot %d", level, word.Slot)
		}
		all = append(all, v...)
	}
	// One row of len(words) maps: rearrange into a (h, words·w) picture.
	n := len(ex.words)
	row := make([]float64, len(all))
	for k := range n {
		for y := range h {
			copy(row[y*n*w+k*w:y*n*w+(k+1)*w], all[k*w*h+y*w:k*w*h+(y+1)*w])
		}
	}
	return figure.Heatmap(row, n*w, h, nil), nil
}

// decode turns a latent into a picture for the page: TAESD when loaded,
// else the model's VAE when the latent is small (sd-mini), else the cheap
// RGB map. It names what it used.
func (ex *exploration) decode(latent *nn.Tensor) (image.Image, string) {
	var dec figure.LatentDecoder
	how := ""
	switch {
	case ex.preview != nil:
		dec, how = ex.preview, "TAESD"
	case latent.Shape[2]*latent.Shape[3] <= 32*32:
		dec, how = ex.m.VAE, "the VAE"
	}
	if dec != nil {
		if img, err := figure.Decoded(dec, latent); err == nil {
			return img, how
		}
	}
	return vae.Preview(latent), "the RGB map (decoding every step would be slow at this size)"
}

// pngURL encodes img as a PNG data: URL.
func pngURL(img image.Image) (string, error) {
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}
