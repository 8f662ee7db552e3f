package grad

import (
	"fmt"
	"math"

	"github.com/sdgo/sdgo/nn"
)

// GroupNorm normalises x (N, C, …) over groups of C/groups channels and all
// positions, then applies the per-channel affine w and b ((C) or nil), as
// torch.nn.GroupNorm: y = x̂·w + b with x̂ = (x − mean)·inv, inv = 1/√(var + eps).
//
// The forward pass keeps mean and inv of every (n, group). Backward, over the
// m values of one group, with g = dy·w:
//
//	dx = inv·(g − mean(g) − x̂·mean(g·x̂))
//	dw += Σ dy·x̂,  db += Σ dy   (per channel)
func (tp *Tape) GroupNorm(x *Var, groups int, w, b *Var, eps float32) *Var {
	xs := x.Value.Shape
	if len(xs) < 2 || groups < 1 || xs[1]%groups != 0 || (w != nil && w.Value.Len() != xs[1]) || (b != nil && b.Value.Len() != xs[1]) {
		panic(fmt.Sprintf("grad.GroupNorm: x %v, %d groups, weight %v, bias %v", xs, groups, shapeOf(w), shapeOf(b)))
	}
	n, c := xs[0], xs[1]
	spatial := x.Value.Len() / (n * c)
	cpg := c / groups
	m := cpg * spatial // values per (n, group), a contiguous run
	y := tp.result(xs, x, w, b)
	stats := tp.buf(2*n*groups, false) // mean, inv per (n, group)
	X, Y := x.Value.Data, y.Value.Data
	nn.Parallel(n*groups, 1, func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			off := ng * m
			mean, inv := meanInvStd(X[off:off+m], eps)
			stats[2*ng], stats[2*ng+1] = mean, inv
			for k := 0; k < cpg; k++ {
				ch := ng%groups*cpg + k
				scale, shift := affine(w, b, ch)
				src, dst := X[off+k*spatial:off+(k+1)*spatial], Y[off+k*spatial:off+(k+1)*spatial]
				for i, v := range src {
					dst[i] = (v-mean)*inv*scale + shift
				}
			}
		}
	})
	tp.record(y, func() {
		dy := y.Grad.Data
		var dx []float32
		if wants(x) {
			dx = tp.gradOf(x)
		}
		// Per-(n, channel) sums of dy·x̂ and dy, reduced over n afterwards so
		// that goroutines never share an accumulator.
		part := tp.buf(2*n*c, false)
		nn.Parallel(n*groups, 1, func(lo, hi int) {
			for ng := lo; ng < hi; ng++ {
				off := ng * m
				mean, inv := stats[2*ng], stats[2*ng+1]
				var sg, sgx float64 // Σ g, Σ g·x̂ over the group
				for k := 0; k < cpg; k++ {
					ch := ng%groups*cpg + k
					scale, _ := affine(w, nil, ch)
					var sdy, sdyx float64
					src, d := X[off+k*spatial:off+(k+1)*spatial], dy[off+k*spatial:off+(k+1)*spatial]
					for i, v := range src {
						xh := float64((v - mean) * inv)
						sdy += float64(d[i])
						sdyx += float64(d[i]) * xh
					}
					nc := ng/groups*c + ch
					part[2*nc], part[2*nc+1] = float32(sdyx), float32(sdy)
					sg += sdy * float64(scale)
					sgx += sdyx * float64(scale)
				}
				if dx == nil {
					continue
				}
				mg, mgx := float32(sg/float64(m)), float32(sgx/float64(m))
				for k := 0; k < cpg; k++ {
					ch := ng%groups*cpg + k
					scale, _ := affine(w, nil, ch)
					o := off + k*spatial
					src, d, dst := X[o:o+spatial], dy[o:o+spatial], dx[o:o+spatial]
					for i, v := range src {
						xh := (v - mean) * inv
						dst[i] += inv * (d[i]*scale - mg - xh*mgx)
					}
				}
			}
		})
		reduceAffine(tp, w, b, part, n, c)
	})
	return y
}

// lnBlock is the number of rows whose share of LayerNorm's weight and bias
// gradients is summed as one partial sum. It is fixed, not a function of the
// thread count, so that training gives the same bytes on any machine of the
// same kernels however many threads it uses.
const lnBlock = 16

// LayerNorm normalises each row of the last dimension of x (…, D), then
// applies the affine w and b ((D) or nil), as torch.nn.LayerNorm. Backward is
// GroupNorm's with one group per row.
func (tp *Tape) LayerNorm(x, w, b *Var, eps float32) *Var {
	d := x.Value.Dim(-1)
	if (w != nil && w.Value.Len() != d) || (b != nil && b.Value.Len() != d) {
		panic(fmt.Sprintf("grad.LayerNorm: x %v, weight %v, bias %v", x.Value.Shape, shapeOf(w), shapeOf(b)))
	}
	rows := x.Value.Len() / d
	y := tp.result(x.Value.Shape, x, w, b)
	stats := tp.buf(2*rows, false)
	X, Y := x.Value.Data, y.Value.Data
	nn.Parallel(rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := X[r*d:(r+1)*d], Y[r*d:(r+1)*d]
			mean, inv := meanInvStd(src, eps)
			stats[2*r], stats[2*r+1] = mean, inv
			for i, v := range src {
				scale, shift := affine(w, b, i)
				dst[i] = (v-mean)*inv*scale + shift
			}
		}
	})
	tp.record(y, func() {
		dy := y.Grad.Data
		var dx []float32
		if wants(x) {
			dx = tp.gradOf(x)
		}
		var dw, db []float32
		if wants(w) {
			dw = tp.gradOf(w)
		}
		if wants(b) {
			db = tp.gradOf(b)
		}
		// Each block of lnBlock rows sums its share of dw and db on its own;
		// the blocks' sums are then added in order, so the result does not
		// depend on how many goroutines ran or which finished first.
		blocks := (rows + lnBlock - 1) / lnBlock
		part := make([]float64, blocks*2*d) // (blocks, 2, D): Σ g·x̂ and Σ g per block
		nn.Parallel(blocks, 1, func(lo, hi int) {
			for bl := lo; bl < hi; bl++ {
				pw, pb := part[bl*2*d:bl*2*d+d], part[bl*2*d+d:(bl+1)*2*d]
				for r := bl * lnBlock; r < min(rows, (bl+1)*lnBlock); r++ {
					mean, inv := stats[2*r], stats[2*r+1]
					src, g := X[r*d:(r+1)*d], dy[r*d:(r+1)*d]
					var sg, sgx float64
					for i, v := range src {
						xh := float64((v - mean) * inv)
						scale, _ := affine(w, nil, i)
						pw[i] += float64(g[i]) * xh
						pb[i] += float64(g[i])
						sg += float64(g[i] * scale)
						sgx += float64(g[i]*scale) * xh
					}
					if dx == nil {
						continue
					}
					mg, mgx := float32(sg/float64(d)), float32(sgx/float64(d))
					dst := dx[r*d : (r+1)*d]
					for i, v := range src {
						scale, _ := affine(w, nil, i)
						dst[i] += inv * (g[i]*scale - mg - (v-mean)*inv*mgx)
					}
				}
			}
		})
		for bl := 1; bl < blocks; bl++ { // (blocks, 2, D) -> (2, D) in block order
			for i := range 2 * d {
				part[i] += part[bl*2*d+i]
			}
		}
		for i := range d {
			if dw != nil {
				dw[i] += float32(part[i])
			}
			if db != nil {
				db[i] += float32(part[d+i])
			}
		}
	})
	return y
}

// affine returns the scale and shift of channel ch: (w[ch], b[ch]), with 1
// and 0 standing in for absent parameters.
func affine(w, b *Var, ch int) (scale, shift float32) {
	scale = 1
	if w != nil {
		scale = w.Value.Data[ch]
	}
	if b != nil {
		shift = b.Value.Data[ch]
	}
	return scale, shift
}

// reduceAffine adds per-(n, channel) partial sums part[2·(n·C+c)] = Σ dy·x̂,
// part[2·(n·C+c)+1] = Σ dy into the gradients of w and b.
func reduceAffine(tp *Tape, w, b *Var, part []float32, n, c int) {
	if wants(w) {
		dw := tp.gradOf(w)
		for i := 0; i < n*c; i++ {
			dw[i%c] += part[2*i]
		}
	}
	if wants(b) {
		db := tp.gradOf(b)
		for i := 0; i < n*c; i++ {
			db[i%c] += part[2*i+1]
		}
	}
}

// meanInvStd returns the mean of v and 1/√(biased variance + eps), computed
// in float64 as nn's norms do.
func meanInvStd(v []float32, eps float32) (mean, inv float32) {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	m := s / float64(len(v))
	var ss float64
	for _, x := range v {
		d := float64(x) - m
		ss += d * d
	}
	return float32(m), float32(1 / math.Sqrt(ss/float64(len(v))+float64(eps)))
}
