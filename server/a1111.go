package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/sdgo/sdgo/pipeline"
)

// AUTOMATIC1111's web UI API (modules/api/api.py), as its clients use it.

func (s *Server) txt2img(w http.ResponseWriter, r *http.Request) error {
	return s.a1111Generate(w, r, false)
}

func (s *Server) img2img(w http.ResponseWriter, r *http.Request) error {
	return s.a1111Generate(w, r, true)
}

func (s *Server) a1111Generate(w http.ResponseWriter, r *http.Request, img2img bool) error {
	g := newGenRequest(s.defaultCFG())
	if err := decodeJSON(w, r, s.lim.MaxBody, &g); err != nil {
		return err
	}
	if img2img && len(g.InitImages) == 0 {
		return badField("init_images", "img2img needs one image (base64 PNG, JPEG or WebP)")
	}
	if !img2img {
		g.InitImages, g.Mask = nil, "" // txt2img ignores them, as A1111 does
	}
	job, err := s.submit(r, &g, true)
	if err != nil {
		return err
	}
	st, err := wait(r, job)
	if err != nil {
		return err // the client is gone: nobody reads a reply
	}
	if st.State == StateFailed || errors.Is(st.Err, ErrClosed) {
		return st.Err
	}
	// Done, or interrupted or cancelled: A1111 answers with the images made.
	images := []string{}
	if g.SendImages {
		for _, im := range st.Images {
			images = append(images, base64.StdEncoding.EncodeToString(im.PNG))
		}
	}
	g.InitImages, g.Mask = nil, "" // A1111 leaves them out of the echo unless include_init_images
	info, _ := json.Marshal(s.a1111Info(&g, job, st))
	writeJSON(w, http.StatusOK, map[string]any{"images": images, "parameters": g, "info": string(info)})
	return nil
}

// a1111Info is the "info" object A1111 returns (as a JSON string).
func (s *Server) a1111Info(g *genRequest, job *Job, st Status) map[string]any {
	n := job.Options.BatchCount
	seeds, prompts, negs, texts := make([]uint64, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	for i := range n {
		seeds = append(seeds, job.Options.Seed+uint64(i))
		prompts = append(prompts, g.Prompt)
		negs = append(negs, g.NegativePrompt)
	}
	for _, im := range st.Images {
		texts = append(texts, im.Parameters)
	}
	sampler := g.SamplerName
	if g.Scheduler != "" && !strings.EqualFold(g.Scheduler, "automatic") {
		sampler += " " + g.Scheduler
	}
	clipSkip := job.Options.ClipSkip
	info := map[string]any{
		"prompt": g.Prompt, "all_prompts": prompts, "negative_prompt": g.NegativePrompt, "all_negative_prompts": negs,
		"seed": job.Options.Seed, "all_seeds": seeds, "subseed": -1, "all_subseeds": seeds, "subseed_strength": 0,
		"width": g.Width, "height": g.Height, "sampler_name": sampler, "cfg_scale": g.CFGScale, "steps": g.Steps,
		"batch_size": g.BatchSize, "restore_faces": false, "face_restoration_model": nil,
		"sd_model_name": s.models.title(), "sd_model_hash": nil, "sd_vae_name": nil, "sd_vae_hash": nil,
		"seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": nil, "clip_skip": clipSkip,
		"extra_generation_params": map[string]any{}, "index_of_first_image": 0, "infotexts": texts, "styles": []string{},
		"job_timestamp": job.Created.Format("20060102150405"), "is_using_inpainting_conditioning": false,
		"version": "sdgo", "interrupted": st.State == StateCancelled,
	}
	if g.initImage != nil {
		info["denoising_strength"] = g.DenoisingStrength
	}
	return info
}

// progress reports the oldest running job (A1111 runs one at a time).
func (s *Server) progress(w http.ResponseWriter, r *http.Request) error {
	stats := s.queue.Stats()
	reply := map[string]any{"progress": 0.0, "eta_relative": 0.0, "current_image": nil, "textinfo": nil, "current_task": nil}
	state := map[string]any{"skipped": false, "interrupted": false, "stopping_generation": false, "job": "",
		"job_count": stats.Waiting + stats.Running, "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
	var cur *Job
	for _, j := range s.queue.Running() {
		if cur == nil || j.Status().Started.Before(cur.Status().Started) {
			cur = j
		}
	}
	if cur != nil {
		st := cur.Status()
		reply["progress"], reply["eta_relative"], reply["current_task"] = st.Fraction(), st.ETA().Seconds(), cur.ID
		state["job"], state["job_timestamp"] = cur.ID, cur.Created.Format("20060102150405")
		state["job_no"], state["sampling_step"], state["sampling_steps"] = st.Progress.Image, st.Progress.Step, st.Progress.Steps
		state["interrupted"] = cur.Context().Err() != nil
		if st.Preview != nil && r.URL.Query().Get("skip_current_image") != "true" {
			reply["current_image"] = base64.StdEncoding.EncodeToString(st.Preview)
		}
	}
	reply["state"] = state
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// interrupt stops the running jobs within one step; their requests answer
// with the images finished so far.
func (s *Server) interrupt(w http.ResponseWriter, r *http.Request) error {
	for _, j := range s.queue.Running() {
		j.cancelWith(ErrInterrupted)
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

func (s *Server) samplers(w http.ResponseWriter, r *http.Request) error {
	aliases := map[string][]string{"Euler a": {"k_euler_a"}, "Euler": {"k_euler"}, "LMS": {"k_lms"}, "Heun": {"k_heun"},
		"DPM++ 2M": {"k_dpmpp_2m"}, "DDIM": {"ddim"}, "PLMS": {"plms"}, "DDPM": {"ddpm"}, "LCM": {"lcm"}}
	out := make([]map[string]any, 0, len(samplerList))
	for _, name := range samplerList {
		out = append(out, map[string]any{"name": name, "aliases": aliases[name], "options": map[string]any{}})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) schedulers(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, []map[string]any{
		{"name": "automatic", "label": "Automatic", "aliases": nil, "default_rho": -1, "need_inner_model": false},
		{"name": "karras", "label": "Karras", "aliases": []string{"karras"}, "default_rho": 7.0, "need_inner_model": false},
	})
	return nil
}

func (s *Server) sdModels(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.models.list())
	return nil
}

func (s *Server) getOptions(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"sd_model_checkpoint": s.models.title(), "sd_checkpoint_hash": nil,
		"CLIP_stop_at_last_layers": 1, "samples_format": "png", "sd_vae": "Automatic"})
	return nil
}

// setOptions switches the model on "sd_model_checkpoint"; the many other
// options of A1111 are accepted and ignored.
func (s *Server) setOptions(w http.ResponseWriter, r *http.Request) error {
	var opts map[string]any
	if err := decodeJSON(w, r, s.lim.MaxBody, &opts); err != nil {
		return err
	}
	if v, ok := opts["sd_model_checkpoint"]; ok && v != nil {
		title, ok := v.(string)
		if !ok {
			return badField("sd_model_checkpoint", "want a string, got %T", v)
		}
		if err := s.models.switchTo(title); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

// refreshCheckpoints is a no-op: sd-models reads --models-dir afresh on
// every call.
func (s *Server) refreshCheckpoints(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, nil)
	return nil
}

// pngInfo reads the parameters text of a PNG back.
func (s *Server) pngInfo(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Image string `json:"image"`
	}
	if err := decodeJSON(w, r, s.lim.MaxBody, &req); err != nil {
		return err
	}
	b64 := req.Image
	if strings.HasPrefix(b64, "data:") {
		_, b64, _ = strings.Cut(b64, ",")
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return badField("image", "not valid base64: %v", err)
	}
	if req.Image == "" {
		return badField("image", "is required")
	}
	text, err := pipeline.PNGParameters(data)
	if err != nil {
		return badField("image", "%v", err)
	}
	items := map[string]any{}
	if text != "" {
		items["parameters"] = text
	}
	writeJSON(w, http.StatusOK, map[string]any{"info": text, "items": items, "parameters": parseInfotext(text)})
	return nil
}

// infotextField is one "Key: value" of the parameters' last line, the value
// plain or a quoted string holding commas (AUTOMATIC1111's re_param_code,
// modules/infotext_utils.py).
var infotextField = regexp.MustCompile(`\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`)

// parseInfotext splits A1111's parameters text into its fields: "Prompt",
// "Negative prompt" and each "Key: value" of the last line.
func parseInfotext(text string) map[string]any {
	out := map[string]any{}
	if text == "" {
		return out
	}
	lines := strings.Split(text, "\n")
	last := lines[len(lines)-1]
	if strings.Contains(last, "Steps: ") {
		lines = lines[:len(lines)-1]
		for _, f := range infotextField.FindAllStringSubmatch(last, -1) {
			v := f[2]
			if uq, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
				v = uq // a quoted value: Lora hashes: "a: 0123456789ab, b: …"
			}
			out[f[1]] = v
		}
	}
	var prompt, neg []string
	inNeg := false
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "Negative prompt: "); ok {
			inNeg = true
			l = rest
		}
		if inNeg {
			neg = append(neg, l)
		} else {
			prompt = append(prompt, l)
		}
	}
	out["Prompt"] = strings.Join(prompt, "\n")
	out["Negative prompt"] = strings.Join(neg, "\n")
	return out
}
