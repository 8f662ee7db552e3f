package nn

import "math"

// GroupNorm normalises x (N, C, …) over groups of C/groups channels (and all
// spatial positions), then applies the per-channel affine weight and bias
// (both (C) or nil): y = (x − mean)/√(var + eps)·weight + bias.
// Statistics are accumulated in float64.
func GroupNorm(x *Tensor, groups int, weight, bias *Tensor, eps float32) *Tensor {
	return groupNorm(x, groups, weight, bias, eps, false)
}

// GroupNormSiLU is SiLU(GroupNorm(x, groups, weight, bias, eps)) in one pass
// over the data: the ResNet blocks of the U-Net and the VAE call the two back
// to back. It returns a new tensor and leaves x unchanged.
func GroupNormSiLU(x *Tensor, groups int, weight, bias *Tensor, eps float32) *Tensor {
	return groupNorm(x, groups, weight, bias, eps, true)
}

// GroupNormSiLUInPlace is GroupNormSiLU writing over x and returning it:
// for a tensor nothing else reads afterwards (the second norm of a ResNet
// block normalises its first convolution's output), it spares an output of
// the same size, 134 MB at the VAE's 512×512 level.
func GroupNormSiLUInPlace(x *Tensor, groups int, weight, bias *Tensor, eps float32) *Tensor {
	return groupNormInto(x, x, groups, weight, bias, eps, true)
}

func groupNorm(x *Tensor, groups int, weight, bias *Tensor, eps float32, silu bool) *Tensor {
	return groupNormInto(New(x.Shape...), x, groups, weight, bias, eps, silu)
}

// groupNormInto writes the group norm of x to y, which may be x: each
// group's statistics are taken before the group is written.
func groupNormInto(y, x *Tensor, groups int, weight, bias *Tensor, eps float32, silu bool) *Tensor {
	scale, shift := groupAffine(x, groups, weight, bias, eps)
	spatial := len(x.Data) / len(scale)
	Parallel(len(scale), max(1, 1<<14/spatial), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			src, dst := x.Data[nc*spatial:(nc+1)*spatial], y.Data[nc*spatial:(nc+1)*spatial]
			if silu {
				siluAffine(dst, src, scale[nc], shift[nc])
			} else {
				affine(dst, src, scale[nc], shift[nc])
			}
		}
	})
	return y
}

// groupAffine returns, per (sample, channel) of x (N, C, …), the scale and
// shift that apply its group norm: y = x·scale + shift, with
// scale = weight/√(var + eps) and shift = bias − mean·scale.
func groupAffine(x *Tensor, groups int, weight, bias *Tensor, eps float32) (scale, shift []float32) {
	n, c := x.Shape[0], x.Shape[1]
	spatial := len(x.Data) / (n * c)
	cpg := c / groups
	scale, shift = make([]float32, n*c), make([]float32, n*c)
	Parallel(n*groups, 1, func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			g := ng % groups
			off := ng * cpg * spatial // (n, g) is a contiguous run of cpg·spatial values
			mean, inv := meanInvStd(x.Data[off:off+cpg*spatial], eps)
			for k := 0; k < cpg; k++ {
				ch := g*cpg + k
				sc, sh := float32(inv), float32(-mean*inv)
				if weight != nil {
					sc *= weight.Data[ch]
					sh *= weight.Data[ch]
				}
				if bias != nil {
					sh += bias.Data[ch]
				}
				scale[ng*cpg+k], shift[ng*cpg+k] = sc, sh
			}
		}
	})
	return scale, shift
}

// LayerNorm normalises each row of the last dimension of x, then applies the
// affine weight and bias (both (D) or nil).
func LayerNorm(x *Tensor, weight, bias *Tensor, eps float32) *Tensor {
	y := New(x.Shape...)
	d := x.Shape[len(x.Shape)-1]
	Parallel(len(x.Data)/d, max(1, 1<<12/d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := x.Data[r*d:(r+1)*d], y.Data[r*d:(r+1)*d]
			mean, inv := meanInvStd(src, eps)
			s := float32(inv)
			affine(dst, src, s, -float32(mean)*s)
			if weight != nil {
				for i, w := range weight.Data[:d] {
					dst[i] *= w
				}
			}
			if bias != nil {
				for i, b := range bias.Data[:d] {
					dst[i] += b
				}
			}
		}
	})
	return y
}

// meanInvStd returns the mean of v and 1/√(biased variance + eps). Sums run
// in float32 within blocks of 512 values and in float64 across blocks; the
// variance is the mean squared deviation from the mean, in a second pass.
func meanInvStd(v []float32, eps float32) (mean, inv float64) {
	const block = 512
	var s float64
	for i := 0; i < len(v); i += block {
		b, _ := sums(v[i:min(i+block, len(v))], 0)
		s += float64(b)
	}
	mean = s / float64(len(v))
	m := float32(mean)
	var ss float64
	for i := 0; i < len(v); i += block {
		_, b := sums(v[i:min(i+block, len(v))], m)
		ss += float64(b)
	}
	// Correct for float32(mean) ≠ mean: Σ(x−m)² = Σ(x−mean)² + n·(mean−m)².
	dm := mean - float64(m)
	ss -= float64(len(v)) * dm * dm
	return mean, 1 / math.Sqrt(max(0, ss/float64(len(v)))+float64(eps))
}
