package pipeline

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// Inspect sees every step with the guided mix of the two noise
// predictions, the sampler's x̂₀ (for Euler: x − σ·ε before the step) and
// the latent the pipeline records.
func TestInspect(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	st := &Stages{}
	var details []StepDetail
	var prev []float32
	o := Options{Prompt: refPrompt, Steps: 3, CFGScale: 5, Seed: 1, Sampler: "euler", Stages: st}
	o.Inspect = func(d StepDetail) {
		if d.EpsUncond == nil || d.EpsCond == nil || d.X0 == nil || len(d.Sigmas) != 4 || d.Timestep != d.Timesteps[d.Step] {
			t.Fatalf("step %d: detail %+v", d.Step, d)
		}
		for j, e := range d.Eps.Data {
			u, c := d.EpsUncond.Data[j], d.EpsCond.Data[j]
			if want := u + 5*(c-u); math.Abs(float64(e-want)) > 1e-5*max(1, math.Abs(float64(want))) {
				t.Fatalf("step %d: ε[%d] = %g, want %g", d.Step, j, e, want)
			}
		}
		if prev != nil {
			sigma := d.Sigmas[d.Step]
			for j, x := range d.X0.Data {
				if want := prev[j] - sigma*d.Eps.Data[j]; math.Abs(float64(x-want)) > 1e-4*max(1, math.Abs(float64(want))) {
					t.Fatalf("step %d: x̂₀[%d] = %g, want %g", d.Step, j, x, want)
				}
			}
		}
		prev = append(prev[:0], d.Latents.Data...)
		details = append(details, StepDetail{Step: d.Step, Latents: nn.From(append([]float32(nil), d.Latents.Data...), d.Latents.Shape...)})
	}
	// x̂₀ of step 0 needs the initial latent.
	o.Inspect = wrapFirst(o.Inspect, func() []float32 { return st.Tensor("latents_init").Data }, &prev)
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(details) != 3 {
		t.Fatalf("%d steps inspected, want 3", len(details))
	}
	for i, d := range details {
		compareRel(t, "latents", d.Latents, st.Tensor(fmt.Sprintf("latents_step%d", i)), 0)
	}
}

// wrapFirst sets *prev from init before the first call of f.
func wrapFirst(f func(StepDetail), init func() []float32, prev *[]float32) func(StepDetail) {
	return func(d StepDetail) {
		if d.Step == 0 {
			*prev = append([]float32(nil), init()...)
		}
		f(d)
	}
}
