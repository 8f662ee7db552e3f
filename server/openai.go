package server

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"
)

// OpenAI's images API, as stable-diffusion.cpp's sd-server offers it.

func (s *Server) openAIGenerations(w http.ResponseWriter, r *http.Request) error {
	var req openAIRequest
	if err := decodeJSON(w, r, s.lim.MaxBody, &req); err != nil {
		return err
	}
	g, err := req.genRequest(s.defaultCFG())
	if err != nil {
		return err
	}
	return s.openAIRun(w, r, &g)
}

func (s *Server) openAIEdits(w http.ResponseWriter, r *http.Request) error {
	g, err := decodeOpenAIEdit(w, r, s.lim, s.defaultCFG())
	if err != nil {
		return err
	}
	return s.openAIRun(w, r, &g)
}

// openAIFields names A1111's fields as OpenAI's request calls them.
var openAIFields = map[string]string{"batch_size": "n", "width": "size", "height": "size", "denoising_strength": "strength",
	"init_images[0]": "image"}

func (s *Server) openAIRun(w http.ResponseWriter, r *http.Request, g *genRequest) error {
	job, err := s.submit(r, g, true)
	var fe *fieldError
	if errors.As(err, &fe) && openAIFields[fe.Field] != "" {
		fe.Field = openAIFields[fe.Field]
	}
	if err != nil {
		return err
	}
	st, err := wait(r, job)
	if err != nil {
		return err
	}
	if errors.Is(st.Err, ErrClosed) {
		return st.Err // 503 with Retry-After, as for a full queue
	}
	if st.State != StateDone {
		return statusError(http.StatusInternalServerError, "generation %s: %v", st.State, st.Err)
	}
	data := make([]map[string]any, 0, len(st.Images))
	for _, im := range st.Images {
		data = append(data, map[string]any{"b64_json": base64.StdEncoding.EncodeToString(im.PNG), "revised_prompt": nil, "seed": im.Seed})
	}
	writeJSON(w, http.StatusOK, map[string]any{"created": time.Now().Unix(), "data": data, "output_format": "png"})
	return nil
}
