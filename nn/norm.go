package nn

import "math"

// GroupNorm normalises x (N, C, …) over groups of C/groups channels (and all
// spatial positions), then applies the per-channel affine weight and bias
// (both (C) or nil): y = (x − mean)/√(var + eps)·weight + bias.
// Statistics are accumulated in float64.
func GroupNorm(x *Tensor, groups int, weight, bias *Tensor, eps float32) *Tensor {
	y := New(x.Shape...)
	n, c := x.Shape[0], x.Shape[1]
	spatial := len(x.Data) / (n * c)
	cpg := c / groups
	Parallel(n*groups, 1, func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			g := ng % groups
			off := ng * cpg * spatial // (n, g) is a contiguous run of cpg·spatial values
			seg := x.Data[off : off+cpg*spatial]
			mean, inv := meanInvStd(seg, eps)
			for k := 0; k < cpg; k++ {
				ch := g*cpg + k
				scale, shift := float32(inv), float32(-mean*inv)
				if weight != nil {
					scale *= weight.Data[ch]
					shift *= weight.Data[ch]
				}
				if bias != nil {
					shift += bias.Data[ch]
				}
				src := seg[k*spatial : (k+1)*spatial]
				dst := y.Data[off+k*spatial : off+(k+1)*spatial]
				for i, v := range src {
					dst[i] = v*scale + shift
				}
			}
		}
	})
	return y
}

// LayerNorm normalises each row of the last dimension of x, then applies the
// affine weight and bias (both (D) or nil).
func LayerNorm(x *Tensor, weight, bias *Tensor, eps float32) *Tensor {
	y := New(x.Shape...)
	d := x.Shape[len(x.Shape)-1]
	Parallel(len(x.Data)/d, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := x.Data[r*d:(r+1)*d], y.Data[r*d:(r+1)*d]
			mean, inv := meanInvStd(src, eps)
			m, s := float32(mean), float32(inv)
			for i, v := range src {
				o := (v - m) * s
				if weight != nil {
					o *= weight.Data[i]
				}
				if bias != nil {
					o += bias.Data[i]
				}
				dst[i] = o
			}
		}
	})
	return y
}

// meanInvStd returns the mean of v and 1/√(biased variance + eps), in float64.
func meanInvStd(v []float32, eps float32) (mean, inv float64) {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	mean = s / float64(len(v))
	var ss float64
	for _, x := range v {
		d := float64(x) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/float64(len(v))+float64(eps))
}
