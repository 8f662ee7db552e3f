package bind

import (
	"context"
	"math"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/rng"
	"github.com/sdgo/sdgo/sdmini"
)

func loadMini(t *testing.T) (*pipeline.Model, string) {
	t.Helper()
	dir, err := sdmini.Path()
	if err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.Load(dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// A step down the gradient through the real sd-mini U-Net lowers SynGen's
// loss: the autodiff path from the maps back to the latent is right.
func TestSteerLowersLoss(t *testing.T) {
	m, dir := loadMini(t)
	b, err := Load(dir, Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "a red circle above a blue square"
	res, err := m.Generate(context.Background(), pipeline.Options{Prompt: prompt, Steps: 1, CFGScale: 1, Seed: 1, Bind: b})
	if err != nil || len(res) != 1 {
		t.Fatal(err)
	}
	cond := encode(t, m, prompt)
	x := nn.New(1, 4, 8, 8)
	rng.NewTorchCPU(3).Normal(x.Data)
	step := pipeline.BindStep{Prompt: prompt, Cond: cond, Input: x, Timestep: 500, Step: 0, Steps: 10}
	d, err := b.Steer(m, step)
	if err != nil || d == nil {
		t.Fatalf("Steer: %v, %v", d, err)
	}
	l0 := b.Losses[0]
	// Take a small step along the change and measure again.
	norm := 0.0
	for _, v := range d.Data {
		norm += float64(v) * float64(v)
	}
	x1 := x.Clone()
	for i, v := range d.Data {
		x1.Data[i] += v * float32(0.05/math.Sqrt(norm))
	}
	step.Input = x1
	if _, err := b.Steer(m, step); err != nil {
		t.Fatal(err)
	}
	l1 := b.Losses[0]
	t.Logf("loss %.5f -> %.5f after a step of 0.05", l0, l1)
	if !(l1 < l0) {
		t.Errorf("loss rose from %g to %g along the steered direction", l0, l1)
	}
	// Past Until no step is taken.
	step.Step = 5
	if d, _ := b.Steer(m, step); d != nil {
		t.Errorf("steered at step 5 of 10 with Until 0.5")
	}
}

func encode(t *testing.T, m *pipeline.Model, prompt string) *nn.Tensor {
	t.Helper()
	var st pipeline.Stages
	if _, err := m.Generate(context.Background(), pipeline.Options{Prompt: prompt, Steps: 1, CFGScale: 1, Stages: &st}); err != nil {
		t.Fatal(err)
	}
	c := st.Tensor("context_cond")
	if c == nil {
		t.Fatal("the pipeline's stages have no context_cond")
	}
	return c
}
