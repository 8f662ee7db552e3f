package server

import "net/http"

// loraItem is one entry of AUTOMATIC1111's GET /sdapi/v1/loras.
type loraItem struct {
	Name     string            `json:"name"`
	Alias    string            `json:"alias"`
	Path     string            `json:"path"`
	Metadata map[string]string `json:"metadata"`
}

// loras lists the LoRA files of the loaded model's --lora-model-dir, the
// names a prompt calls with <lora:NAME:W>.
func (s *Server) loras(w http.ResponseWriter, r *http.Request) error {
	lm, release := s.models.acquire()
	infos, err := lm.model.Loras()
	release()
	if err != nil {
		return err
	}
	out := []loraItem{}
	for _, l := range infos {
		md := l.Metadata
		if md == nil {
			md = map[string]string{}
		}
		out = append(out, loraItem{Name: l.Name, Alias: l.Alias, Path: l.Path, Metadata: md})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// embeddingItem is one entry of AUTOMATIC1111's GET /sdapi/v1/embeddings.
type embeddingItem struct {
	Step             *int    `json:"step"`
	SDCheckpoint     *string `json:"sd_checkpoint"`
	SDCheckpointName *string `json:"sd_checkpoint_name"`
	Shape            int     `json:"shape"`
	Vectors          int     `json:"vectors"`
}

// embeddings lists the textual-inversion embeddings of --embd-dir in
// A1111's shape: those whose widths fit the loaded text encoders (SDXL's:
// clip_l and clip_g) are "loaded", the others "skipped".
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) error {
	lm, release := s.models.acquire()
	infos, err := lm.model.Embeddings()
	width, width2 := lm.model.Text.Config.Width, 0
	if lm.model.Text2 != nil {
		width2 = lm.model.Text2.Config.Width // SDXL: clip_g's width
	}
	release()
	if err != nil {
		return err
	}
	loaded, skipped := map[string]embeddingItem{}, map[string]embeddingItem{}
	for _, e := range infos {
		item := embeddingItem{Shape: e.Width, Vectors: e.Vectors}
		if e.Width == width && e.Width2 == width2 {
			loaded[e.Trigger] = item
		} else {
			skipped[e.Trigger] = item
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"loaded": loaded, "skipped": skipped})
	return nil
}
