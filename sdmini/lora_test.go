package sdmini_test

import (
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// A two-step LoRA of the built-in model: the file is kohya-ss's format and
// every module names a layer of the model sdgo loads.
func TestTrainLoRA(t *testing.T) {
	model, err := sdmini.Path()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "green-circle.safetensors")
	err = sdmini.TrainLoRA(sdmini.LoRAOptions{Model: model, Out: out, Concept: "a green circle", Steps: 2, Batch: 2, Scenes: 2, Rank: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, err := lora.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.Load(model, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := lora.Apply(lora.NewIndex(m.UNet.Weights, m.Text.Weights), []lora.Use{{Adapter: a, Multiplier: 1}}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Undo()
	if len(a.Modules) == 0 || p.Weights != len(a.Modules) || a.Modules[0].Alpha != 2 {
		t.Errorf("%d modules, %d weights changed, alpha %g", len(a.Modules), p.Weights, a.Modules[0].Alpha)
	}
	// With prior preservation half of each batch is ordinary scenes; a
	// concept that names a size keeps scenes of that size.
	prior := filepath.Join(t.TempDir(), "prior.safetensors")
	if err := sdmini.TrainLoRA(sdmini.LoRAOptions{Model: model, Out: prior, Concept: "a large green circle", Steps: 2, Batch: 2, Scenes: 2, Rank: 2, Prior: 0.5}); err != nil {
		t.Fatal(err)
	}
	if b, err := lora.Open(prior); err != nil || len(b.Modules) != len(a.Modules) {
		t.Errorf("prior-preserving LoRA: %v", err)
	}
	if err := sdmini.TrainLoRA(sdmini.LoRAOptions{Model: model, Out: prior, Concept: "a green circle", Prior: 1}); err == nil {
		t.Error("a prior share of 1 (no concept scenes) was accepted")
	}
	if err := sdmini.TrainLoRA(sdmini.LoRAOptions{Model: model, Out: out, Concept: "two circles"}); err == nil {
		t.Error("a concept of no single object was accepted")
	}
}
