package pipeline

import (
	"fmt"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// SingleFileTensors lists the tensors of an SD 1.x single file (as
// v1-5-pruned-emaonly.safetensors) for the given component configs: names
// in the file's layout, shapes, no data. The list comes from the loaders
// themselves (each component is loaded from a weights.ShapeRecorder and
// renamed by weights.LDMSingleFile), so it is exactly what loading reads.
// Matrices are marked F16 (half precision), vectors F32. The buffer real
// files carry and loaders skip (the text encoder's position_ids) is not
// listed, nor are the DDPM schedule buffers (betas, alphas_cumprod, …)
// that LDM saves beside the model and sdgo computes from the scheduler's
// config. A U-Net without linear projections (SD 1.x) gets its spatial
// transformers' proj_in and proj_out as the 1×1 convolutions, (C, C, 1, 1),
// that such files hold; the loader reads them as (C, C) linears.
func SingleFileTensors(u unet.Config, t clip.Config, v vae.Config) ([]weights.Entry, error) {
	es, err := recordComponents(weights.LDMSingleFile, []component{
		{"unet", func(src weights.Source) error { _, err := unet.LoadPrecision(src, u, weights.KeepHalf); return err }},
		{"vae", func(src weights.Source) error { _, err := vae.LoadPrecision(src, v, weights.KeepHalf); return err }},
		{"text_encoder", func(src weights.Source) error { _, err := clip.LoadPrecision(src, t, weights.KeepHalf); return err }},
	})
	if err != nil || u.UseLinearProjection {
		return es, err
	}
	for i, e := range es {
		if strings.HasPrefix(e.Name, weights.LDMUNetPrefix) && len(e.Shape) == 2 &&
			(strings.HasSuffix(e.Name, ".proj_in.weight") || strings.HasSuffix(e.Name, ".proj_out.weight")) {
			es[i].Shape = append(e.Shape, 1, 1) // (C, C) -> (C, C, 1, 1)
		}
	}
	return es, nil
}

// SDXLSingleFileTensors lists the tensors of an SDXL single file (as
// sd_xl_base_1.0.safetensors) for the given component configs, as
// [SingleFileTensors] does for SD 1.x (renamed by weights.SDXLSingleFile).
// The two buffers real files carry and loaders skip (text_encoder's
// position_ids and OpenCLIP's logit_scale) are not listed.
func SDXLSingleFileTensors(u unet.Config, t1, t2 clip.Config, v vae.Config) ([]weights.Entry, error) {
	return recordComponents(weights.SDXLSingleFile, []component{
		{"unet", func(src weights.Source) error { _, err := unet.LoadPrecision(src, u, weights.KeepHalf); return err }},
		{"vae", func(src weights.Source) error { _, err := vae.LoadPrecision(src, v, weights.KeepHalf); return err }},
		{"text_encoder", func(src weights.Source) error { _, err := clip.LoadPrecision(src, t1, weights.KeepHalf); return err }},
		{"text_encoder_2", func(src weights.Source) error { _, err := clip.LoadProjection(src, t2, weights.KeepHalf); return err }},
	})
}

// component is one part of a single file, by its diffusers folder name,
// and the loader that reads it.
type component struct {
	name string
	load func(src weights.Source) error
}

// recordComponents loads each component from a weights.ShapeRecorder and
// renames what it read with rename.
func recordComponents(rename func(string, []weights.Entry) ([]weights.Entry, error), cs []component) ([]weights.Entry, error) {
	var all []weights.Entry
	for _, c := range cs {
		rec := &weights.ShapeRecorder{}
		if err := c.load(rec); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		es, err := rename(c.name, rec.Entries)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	return all, nil
}
