package pipeline

import (
	"fmt"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// SDXLSingleFileTensors lists the tensors of an SDXL single file (as
// sd_xl_base_1.0.safetensors) for the given component configs: names in
// the file's layout, shapes, no data. The list comes from the loaders
// themselves (each component is loaded from a weights.ShapeRecorder and
// renamed by weights.SDXLSingleFile), so it is exactly what loading reads.
// Matrices are marked F16 (half precision), vectors F32. The two buffers
// real files carry and loaders skip (text_encoder's position_ids and
// OpenCLIP's logit_scale) are not listed.
func SDXLSingleFileTensors(u unet.Config, t1, t2 clip.Config, v vae.Config) ([]weights.Entry, error) {
	var all []weights.Entry
	for _, c := range []struct {
		name string
		load func(src weights.Source) error
	}{
		{"unet", func(src weights.Source) error { _, err := unet.LoadPrecision(src, u, weights.KeepHalf); return err }},
		{"vae", func(src weights.Source) error { _, err := vae.LoadPrecision(src, v, weights.KeepHalf); return err }},
		{"text_encoder", func(src weights.Source) error { _, err := clip.LoadPrecision(src, t1, weights.KeepHalf); return err }},
		{"text_encoder_2", func(src weights.Source) error { _, err := clip.LoadProjection(src, t2, weights.KeepHalf); return err }},
	} {
		rec := &weights.ShapeRecorder{}
		if err := c.load(rec); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		es, err := weights.SDXLSingleFile(c.name, rec.Entries)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	return all, nil
}
