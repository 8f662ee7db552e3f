package grad

import "math"

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter, 2019),
// step for step as torch.optim.AdamW (amsgrad off). For each parameter θ
// with gradient g, at its t-th update:
//
//	θ ← θ·(1 − lr·λ)                         decoupled weight decay
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	θ ← θ − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)
//
// The fields may be changed between steps (a learning-rate schedule sets LR).
type AdamW struct {
	LR          float64 // learning rate
	Beta1       float64 // decay of the first moment m
	Beta2       float64 // decay of the second moment v
	Eps         float64 // ε, added to √v̂ for stability
	WeightDecay float64 // λ, decoupled: scaled by LR, not by the moments
	// NoDecay, if set, exempts the parameters it names from weight decay
	// (a common choice: biases, norm weights and embeddings).
	NoDecay func(name string) bool
	// LRScale, if set, multiplies LR for the parameter it names (a
	// torch param group of its own learning rate, following the same
	// schedule): the update and the decay use LR·LRScale(name).
	LRScale func(name string) float64
	// Steps is the number of Step calls so far (for schedules); Load
	// restores it.
	Steps int

	params *Params
	m, v   [][]float32 // first and second moments, by parameter index
	t      []int64     // updates of each parameter: torch counts them per parameter
}

// NewAdamW returns an optimizer over params with torch's defaults
// (β = (0.9, 0.999), ε = 1e-8, λ = 0.01) and learning rate lr.
func NewAdamW(params *Params, lr float64) *AdamW {
	o := &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, params: params}
	o.grow()
	return o
}

// grow allocates moments for parameters added since the last call.
func (o *AdamW) grow() {
	for i := len(o.m); i < len(o.params.names); i++ {
		n := o.params.vars[o.params.names[i]].Value.Len()
		o.m = append(o.m, make([]float32, n))
		o.v = append(o.v, make([]float32, n))
		o.t = append(o.t, 0)
	}
}

// Step updates every parameter that has a gradient, as
// torch.optim.AdamW.step; parameters without one (Grad nil) are left alone,
// decay included. It does not zero the gradients: call Params.ZeroGrad.
func (o *AdamW) Step() {
	o.grow()
	o.Steps++
	b1, b2, eps := float32(o.Beta1), float32(o.Beta2), float32(o.Eps)
	type factors struct{ stepSize, bc2Sqrt, decay float32 }
	f := make([]factors, len(o.params.names))
	for i, name := range o.params.names {
		if o.params.vars[name].Grad == nil {
			continue
		}
		o.t[i]++
		t := float64(o.t[i])
		lr := o.LR
		if o.LRScale != nil {
			lr *= o.LRScale(name)
		}
		f[i] = factors{
			stepSize: float32(lr / (1 - math.Pow(o.Beta1, t))),
			bc2Sqrt:  float32(math.Sqrt(1 - math.Pow(o.Beta2, t))),
			decay:    float32(1 - lr*o.WeightDecay),
		}
		if o.NoDecay != nil && o.NoDecay(name) {
			f[i].decay = 1
		}
	}
	// All parameters at once, split across the threads.
	o.params.ranges(o.params.withGrad, func(i, lo, hi int) {
		p := o.params.vars[o.params.names[i]]
		theta, g, m, v := p.Value.Data[lo:hi], p.Grad.Data[lo:hi], o.m[i][lo:hi], o.v[i][lo:hi]
		stepSize, bc2Sqrt, decay := f[i].stepSize, f[i].bc2Sqrt, f[i].decay
		for j := range theta {
			theta[j] *= decay
			m[j] += (1 - b1) * (g[j] - m[j]) // torch: exp_avg.lerp_(grad, 1-β1)
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			denom := float32(math.Sqrt(float64(v[j])))/bc2Sqrt + eps
			theta[j] -= stepSize * m[j] / denom
		}
	})
}
