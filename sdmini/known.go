package sdmini

import "github.com/sdgo/sdgo/pipeline"

// sd-mini's shapes are known to pipeline.Load, so a single-file sd-mini
// checkpoint gets its head counts, which no tensor records.
func init() {
	pipeline.RegisterKnownModel(pipeline.KnownModel{Name: "sd-mini", Text: TextConfig(0), UNet: UNetConfig()})
}
