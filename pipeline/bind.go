package pipeline

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
)

// Binder is inference-time attention guidance, such as Attend-and-Excite
// (Chefer et al. 2023) or SynGen (Rassin et al. 2023): before a sampling
// step it may move the latents down the gradient of a loss on the U-Net's
// cross-attention maps, so that each word's attributes land on the object
// the word belongs to. Package bind implements it; Options.Bind runs one.
type Binder interface {
	// Steer returns the change to make to the U-Net's input at this step
	// (the latents as the sampler scales them, s.Input), or nil for none.
	// It must not modify s's tensors.
	Steer(m *Model, s BindStep) (*nn.Tensor, error)
}

// BindStep is what a Binder sees before a sampling step.
type BindStep struct {
	Prompt   string
	Cond     *nn.Tensor // (1, 77·k, D): the prompt's text embeddings
	Input    *nn.Tensor // (1, C, h, w): the U-Net's input at this step
	Timestep float64    // the U-Net timestep of the step
	Step     int        // from 0
	Steps    int        // steps in the schedule
}

// steer runs o.Bind before step i: the change it asks of the U-Net input
// is applied to the latents, divided by the sampler's input scale c_in (so
// that the input moves by exactly that change).
func (m *Model) steer(o Options, sched scheduler.Scheduler, i, steps int, t float64, latents, cond *nn.Tensor) error {
	in := nn.New(latents.Shape...)
	if err := sched.ScaleModelInput(i, in.Data, latents.Data); err != nil {
		return err
	}
	var c [1]float32
	if err := sched.ScaleModelInput(i, c[:], []float32{1}); err != nil {
		return err
	}
	d, err := o.Bind.Steer(m, BindStep{Prompt: o.Prompt, Cond: cond, Input: in, Timestep: t, Step: i, Steps: steps})
	if err != nil {
		return fmt.Errorf("bind: step %d: %w", i, err)
	}
	if d == nil {
		return nil
	}
	if !nn.SameShape(d.Shape, latents.Shape) {
		return fmt.Errorf("bind: step %d: change of shape %v for latents %v", i, d.Shape, latents.Shape)
	}
	for j, v := range d.Data {
		latents.Data[j] += v / c[0]
	}
	return nil
}
