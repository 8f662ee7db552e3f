package grad

import "math"

// EMA keeps an exponential moving average of a parameter set's values: the
// weights diffusion models are released with (Stable Diffusion's checkpoints
// hold the EMA of its U-Net, decay 0.9999), smoother than the last step's.
// After each optimizer step, Update moves every average toward its
// parameter,
//
//	avg ← d·avg + (1 − d)·θ,   d = min(Decay, (1 + n)/(10 + n))
//
// where n counts the updates before this one: the warm-up of diffusers'
// EMAModel, so that early averages do not cling to the random start.
type EMA struct {
	Decay   float64 // the largest decay d
	Updates int     // Update calls so far; Params.Load restores it

	params *Params
	avg    *Params // the averages, under the parameters' names
}

// NewEMA returns an average of params' values, starting at their current
// values. Parameters must not be added to params afterwards.
func NewEMA(params *Params, decay float64) *EMA {
	e := &EMA{Decay: decay, params: params, avg: NewParams()}
	for _, name := range params.names {
		e.avg.Add(name, params.vars[name].Value.Clone())
	}
	return e
}

// Update moves the averages one step toward the parameters' values.
func (e *EMA) Update() {
	d := float32(math.Min(e.Decay, float64(1+e.Updates)/float64(10+e.Updates)))
	e.Updates++
	// All parameters at once, split across the threads.
	e.params.ranges(func(int) bool { return true }, func(i, lo, hi int) {
		name := e.params.names[i]
		theta, avg := e.params.vars[name].Value.Data[lo:hi], e.avg.vars[name].Value.Data[lo:hi]
		for j := range avg {
			avg[j] = d*avg[j] + (1-d)*theta[j]
		}
	})
}

// Averages returns the averaged values as a parameter set with the same
// names, to export: its tensors are the EMA's own, so it changes with the
// next Update.
func (e *EMA) Averages() *Params { return e.avg }
