package pipeline

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Stages collects what each stage of a generation computed, for the
// walkthrough and for debugging, and writes it in one fixed format:
// DIR/stages.safetensors holding
//
//	ids_cond, ids_uncond          int64 (1, 77·k)   token ids of prompt and negative prompt
//	context_cond, context_uncond  float32 (1, 77·k, D)
//	latents_init                  float32 (1, 4, h, w), after the initial noise scaling
//	latents_step<i>               float32, after the i-th scheduler step (i from 0)
//	image                         float32 (1, 3, H, W), the decoder's output, unclamped
//
// Inpainting adds, before latents_init:
//
//	mask                          float32 (1, 1, H, W), binarised: 1 = repaint
//	mask_latent                   float32 (1, 1, h, w)
//	masked_image                  float32 (1, 3, H, W), the image with the masked part 0
//	image_latents                 float32 (1, 4, h, w), the encoded image (when it is encoded)
//	masked_image_latents          float32 (1, 4, h, w), what an inpainting U-Net sees
//
// SDXL adds
//
//	pooled_cond, pooled_uncond    float32 (1, P), text_encoder_2's projected pooled output (zeros for no negative prompt)
//	add_time_ids                  float32 (1, 6), original size, crop top-left, target size, each (h, w)
//
// Only the first image of a batch is recorded.
type Stages struct {
	entries []weights.Entry
}

func (s *Stages) add(image int, name string, t *nn.Tensor) {
	if s == nil || image > 0 {
		return
	}
	s.entries = append(s.entries, weights.Entry{Name: name, DType: weights.F32,
		Shape: append([]int(nil), t.Shape...), Float: append([]float32(nil), t.Data...)})
}

func (s *Stages) addIDs(name string, ids []int) {
	if s == nil {
		return
	}
	v := make([]int64, len(ids))
	for i, id := range ids {
		v[i] = int64(id)
	}
	s.entries = append(s.entries, weights.Entry{Name: name, DType: weights.I64, Shape: []int{1, len(ids)}, Int: v})
}

// Names lists the recorded stages in the order they were made.
func (s *Stages) Names() []string {
	var out []string
	for _, e := range s.entries {
		out = append(out, e.Name)
	}
	return out
}

// Tensor returns a recorded float stage, or nil.
func (s *Stages) Tensor(name string) *nn.Tensor {
	for _, e := range s.entries {
		if e.Name == name && e.DType == weights.F32 {
			return nn.From(e.Float, e.Shape...)
		}
	}
	return nil
}

// Write writes dir/stages.safetensors, creating dir if needed.
func (s *Stages) Write(dir string, overwrite bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dump-stages: %w", err)
	}
	return weights.Write(filepath.Join(dir, "stages.safetensors"), s.entries,
		map[string]string{"format": "sdgo stages v1"}, overwrite)
}
