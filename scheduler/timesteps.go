package scheduler

import "math"

// This file picks the inference timesteps and σ schedules. It mirrors the
// numpy code of diffusers' set_timesteps, including numpy's rounding (half
// to even) and its float32/float64 mix, so that the schedules match the
// reference bit for bit.

// npLinspace is numpy.linspace(start, stop, num): start + i·step with the
// last value exactly stop.
func npLinspace(start, stop float64, num int) []float64 {
	out := make([]float64, num)
	if num == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(num-1)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[num-1] = stop
	return out
}

// npArange is numpy.arange(start, stop, step) for floats: ⌈(stop−start)/step⌉
// values start + i·δ, where δ = (start+step) − start as numpy computes it.
func npArange(start, stop, step float64) []float64 {
	n := int(math.Ceil((stop - start) / step))
	if n <= 0 {
		return nil
	}
	out := make([]float64, n)
	delta := (start + step) - start
	for i := range out {
		out[i] = start + float64(i)*delta
	}
	return out
}

// reversed returns v in reverse order (v is modified in place).
func reversed(v []float64) []float64 {
	for i, j := 0, len(v)-1; i < j; i, j = i+1, j-1 {
		v[i], v[j] = v[j], v[i]
	}
	return v
}

// roundAll rounds every value half to even, as numpy's round does.
func roundAll(v []float64) []float64 {
	for i, x := range v {
		v[i] = math.RoundToEven(x)
	}
	return v
}

// alphaTimesteps are the descending integer timesteps of n steps of DDPM,
// DDIM and LCM-style schedules (diffusers' DDPM/DDIM set_timesteps):
//
//	leading:  i·⌊T/n⌋ + offset          (N=4: 751, 501, 251, 1)
//	trailing: round(T − i·T/n) − 1      (N=4: 999, 749, 499, 249)
//	linspace: round(i·(T−1)/(n−1))      (N=4: 999, 666, 333, 0)
func alphaTimesteps(sp Spacing, T, n, offset int) []float64 {
	switch sp {
	case Trailing:
		ts := roundAll(npArange(float64(T), 0, -float64(T)/float64(n)))
		for i := range ts {
			ts[i]--
		}
		return ts
	case Linspace:
		return reversed(roundAll(npLinspace(0, float64(T-1), n)))
	default: // Leading
		ts := make([]float64, n)
		ratio := T / n
		for i := range ts {
			ts[i] = float64((n-1-i)*ratio + offset)
		}
		return ts
	}
}

// sigmaTimesteps are the descending float32 timesteps of the σ samplers
// (Euler, Euler a, LMS, Heun): as alphaTimesteps, but linspace is not rounded
// (N=20: 999, 946.42…, …, 0) and values are float32.
func sigmaTimesteps(sp Spacing, T, n, offset int) []float64 {
	var ts []float64
	switch sp {
	case Trailing:
		ts = roundAll(npArange(float64(T), 0, -float64(T)/float64(n)))
		for i := range ts {
			ts[i] = float64(float32(ts[i]) - 1)
		}
	case Linspace:
		ts = reversed(npLinspace(0, float64(T-1), n))
	default: // Leading
		ts = alphaTimesteps(Leading, T, n, offset)
	}
	for i, t := range ts {
		ts[i] = float64(float32(t))
	}
	return ts
}

// dpmTimesteps are the descending integer timesteps of DPM-Solver: n+1
// points spaced over the schedule with the last one (t = 0) dropped.
//
//	linspace: round(i·(T−1)/n), i = n…1      (N=4: 999, 749, 500, 250)
//	leading:  i·⌊T/(n+1)⌋ + offset, i = n…1
//	trailing: round(T − i·T/n) − 1
func dpmTimesteps(sp Spacing, T, n, offset int) []float64 {
	switch sp {
	case Trailing:
		return alphaTimesteps(Trailing, T, n, offset)
	case Leading:
		ts := make([]float64, n)
		ratio := T / (n + 1)
		for i := range ts {
			ts[i] = float64((n-i)*ratio + offset)
		}
		return ts
	default: // Linspace
		ts := reversed(roundAll(npLinspace(0, float64(T-1), n+1)))
		return ts[:n]
	}
}

// trainSigmas returns σₜ = √((1−ᾱₜ)/ᾱₜ) for every training timestep, the
// noise level of the variance-exploding form x = x₀ + σ·ε of the model's
// latents divided by √ᾱₜ. float32, as torch computes them.
func trainSigmas(abar []float32) []float32 {
	s := make([]float32, len(abar))
	for t, a := range abar {
		s[t] = sqrt32((1 - a) / a)
	}
	return s
}

// logs returns the float32 natural logarithms of v (numpy's log of a float32
// array).
func logs(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(math.Log(float64(x)))
	}
	return out
}

// interpSigma is numpy.interp(t, arange(T), sigmas): σ at a fractional
// timestep, linear between the training timesteps.
func interpSigma(t float64, sigmas []float32) float64 {
	last := len(sigmas) - 1
	switch {
	case t <= 0:
		return float64(sigmas[0])
	case t >= float64(last):
		return float64(sigmas[last])
	}
	j := int(t) // t lies in [j, j+1)
	lo, hi := float64(sigmas[j]), float64(sigmas[j+1])
	if t == float64(j) {
		return lo
	}
	return (hi-lo)*(t-float64(j)) + lo
}

// karrasSigmas is the schedule of Karras et al. 2022 ("Elucidating the Design
// Space of Diffusion-Based Generative Models", eq. 5) with ρ = 7: n values
// from σ_max to σ_min, evenly spaced in σ^(1/ρ).
func karrasSigmas(sigmaMin, sigmaMax float64, n int) []float64 {
	const rho = 7.0
	minInv, maxInv := math.Pow(sigmaMin, 1/rho), math.Pow(sigmaMax, 1/rho)
	ramp := npLinspace(0, 1, n)
	out := make([]float64, n)
	for i, r := range ramp {
		out[i] = math.Pow(maxInv+r*(minInv-maxInv), rho)
	}
	return out
}

// sigmaToT maps a noise level back to a fractional training timestep by
// linear interpolation of log σ between the two training timesteps around it
// (diffusers' _sigma_to_t; logSigmas are float32 and increasing).
func sigmaToT(sigma float64, logSigmas []float32) float64 {
	logSigma := math.Log(max(sigma, 1e-10))
	// low: the last timestep whose log σ is ≤ logSigma, at most T−2.
	low := 0
	for j, l := range logSigmas {
		if logSigma-float64(l) >= 0 {
			low = j
		}
	}
	low = min(low, len(logSigmas)-2)
	lo, hi := logSigmas[low], logSigmas[low+1]
	w := (float64(lo) - logSigma) / float64(lo-hi) // lo−hi in float32, as numpy scalars do
	w = min(max(w, 0), 1)
	return (1-w)*float64(low) + w*float64(low+1)
}
