package main

import (
	"os"
	"sync"

	"github.com/sdgo/sdgo/pipeline"
)

var registerTiny, registerTinyXL sync.Once

// register makes the scaled-down test model a known model, so that its
// single file loads as SD 1.5's does (its heads are not in the weights).
// SD 1.5 is known already.
func (s benchSpec) register() {
	if s.name != tinySpec().name {
		return
	}
	registerTiny.Do(func() {
		pipeline.RegisterKnownModel(pipeline.KnownModel{Name: s.name, Text: s.text, UNet: s.unet})
	})
}

// register makes the scaled-down SDXL of the tests a known model (its
// heads are the spec's), so that its single file loads as SDXL's does.
func (s xlBenchSpec) register() {
	if s.name == sdxlBenchSpec().name && os.Getenv(benchEnv) != "tiny" {
		return // SDXL itself is known
	}
	registerTinyXL.Do(func() {
		pipeline.RegisterKnownModel(pipeline.KnownModel{Name: s.name, Text: s.te1, UNet: s.unet, Text2: s.te2})
	})
}
