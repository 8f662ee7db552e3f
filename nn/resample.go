package nn

import "math"

// UpsampleNearest2x doubles the height and width of x (N, C, H, W) by
// repeating each value: (N, C, H, W) -> (N, C, 2H, 2W).
func UpsampleNearest2x(x *Tensor) *Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := New(n, c, 2*h, 2*w)
	Parallel(n*c*h, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ { // r = (n·C + c)·H + row
			src := x.Data[r*w : (r+1)*w]
			dst := y.Data[2*r*2*w : (2*r+1)*2*w]
			for i, v := range src {
				dst[2*i], dst[2*i+1] = v, v
			}
			copy(y.Data[(2*r+1)*2*w:(2*r+2)*2*w], dst)
		}
	})
	return y
}

// Concat joins tensors along dimension 1 (channels for NCHW): shapes must
// agree except in dimension 1. (N, C1, …) + (N, C2, …) -> (N, C1+C2, …).
func Concat(ts ...*Tensor) *Tensor {
	n := ts[0].Shape[0]
	inner := len(ts[0].Data) / (n * ts[0].Shape[1])
	total := 0
	for _, t := range ts {
		total += t.Shape[1]
	}
	shape := append([]int(nil), ts[0].Shape...)
	shape[1] = total
	y := New(shape...)
	// One job per (batch item, input), each a contiguous copy; small
	// results are copied inline.
	jobs, chunk := n*len(ts), 1
	if len(y.Data) < 1<<16 {
		chunk = jobs
	}
	Parallel(jobs, chunk, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			b, t := j/len(ts), ts[j%len(ts)]
			off := b * total * inner
			for _, u := range ts[:j%len(ts)] {
				off += u.Shape[1] * inner
			}
			sz := t.Shape[1] * inner
			copy(y.Data[off:off+sz], t.Data[b*sz:(b+1)*sz])
		}
	})
	return y
}

// TimestepEmbedding is the sinusoidal embedding of diffusion timesteps, as
// diffusers' get_timestep_embedding computes it: for half = dim/2,
// freq_i = exp(−ln(maxPeriod)·i/(half − shift)), arg = float32(t)·freq_i,
// embedding = [sin(arg), cos(arg)], or [cos, sin] with flipSinToCos.
// t (B) → (B, dim). Timesteps may be fractional.
func TimestepEmbedding(t []float32, dim int, flipSinToCos bool, shift float64, maxPeriod float64) *Tensor {
	half := dim / 2
	y := New(len(t), dim)
	freqs := make([]float32, half)
	for i := range freqs {
		// torch: exp(-log(max_period) * arange(half, dtype=float32) / (half - shift)), in float32.
		e := float32(-math.Log(maxPeriod)) * float32(i) / float32(float64(half)-shift)
		freqs[i] = float32(math.Exp(float64(e)))
	}
	for b, tv := range t {
		row := y.Data[b*dim : (b+1)*dim]
		for i, f := range freqs {
			arg := float64(tv * f)
			s, c := float32(math.Sin(arg)), float32(math.Cos(arg))
			if flipSinToCos {
				row[i], row[half+i] = c, s
			} else {
				row[i], row[half+i] = s, c
			}
		}
	}
	return y
}
