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
	f := make([]adamwFactors, len(o.params.names))
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
		f[i] = adamwFactors{
			decay:    float32(1 - lr*o.WeightDecay),
			c1:       1 - b1,
			b2:       b2,
			c2:       1 - b2,
			bc2Sqrt:  float32(math.Sqrt(1 - math.Pow(o.Beta2, t))),
			eps:      eps,
			stepSize: float32(lr / (1 - math.Pow(o.Beta1, t))),
		}
		if o.NoDecay != nil && o.NoDecay(name) {
			f[i].decay = 1
		}
	}
	// All parameters at once, split across the threads.
	o.params.ranges(o.params.withGrad, func(i, lo, hi int) {
		p := o.params.vars[o.params.names[i]]
		adamw(p.Value.Data[lo:hi], p.Grad.Data[lo:hi], o.m[i][lo:hi], o.v[i][lo:hi], &f[i])
	})
}

// adamwFactors are the per-parameter constants of one AdamW step, in the
// order adamwAVX2 reads them.
type adamwFactors struct {
	decay    float32 // 1 − lr·λ (1 without decay)
	c1       float32 // 1 − β1
	b2       float32 // β2
	c2       float32 // 1 − β2
	bc2Sqrt  float32 // √(1 − β2ᵗ)
	eps      float32 // ε
	stepSize float32 // lr/(1 − β1ᵗ)
}

// adamw updates the values theta with gradients g and moments m and v. Its
// AVX2 kernel rounds every operation as adamwGo does, so it gives the same
// bits.
func adamw(theta, g, m, v []float32, k *adamwFactors) {
	g, m, v = g[:len(theta)], m[:len(theta)], v[:len(theta)]
	if n := len(theta) &^ 7; hasAVX2 && n > 0 {
		adamwAVX2(&theta[0], &g[0], &m[0], &v[0], n, k)
		theta, g, m, v = theta[n:], g[n:], m[n:], v[n:]
	}
	adamwGo(theta, g, m, v, k)
}

// adamwGo is adamw's reference loop.
func adamwGo(theta, g, m, v []float32, k *adamwFactors) {
	for j := range theta {
		theta[j] *= k.decay
		m[j] += k.c1 * (g[j] - m[j]) // torch: exp_avg.lerp_(grad, 1-β1)
		v[j] = k.b2*v[j] + k.c2*g[j]*g[j]
		denom := float32(math.Sqrt(float64(v[j])))/k.bc2Sqrt + k.eps
		theta[j] -= k.stepSize * m[j] / denom
	}
}
