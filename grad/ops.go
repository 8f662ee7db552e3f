package grad

import (
	"fmt"
	"slices"

	"github.com/sdgo/sdgo/nn"
)

// Add is a + b. b has a's shape or a trailing part of it and is then added
// to every leading index (a position embedding (L, D) onto (B, L, D), a bias
// (D) onto (…, D)); its gradient sums over those indices.
func (tp *Tape) Add(a, b *Var) *Var {
	as, bs := a.Value.Shape, b.Value.Shape
	if len(bs) > len(as) || !nn.SameShape(as[len(as)-len(bs):], bs) {
		panic(fmt.Sprintf("grad.Add: cannot add %v to %v", bs, as))
	}
	y := tp.result(as, a, b)
	A, B, Y := a.Value.Data, b.Value.Data, y.Value.Data
	nb := len(B)
	nn.Parallel(len(A)/nb, max(1, 1<<14/nb), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := A[r*nb:(r+1)*nb], Y[r*nb:(r+1)*nb]
			for i, v := range src {
				dst[i] = v + B[i]
			}
		}
	})
	tp.record(y, func() {
		dy := y.Grad.Data
		if wants(a) {
			addTo(tp.gradOf(a), dy)
		}
		if wants(b) {
			sumRows(tp.gradOf(b), dy, len(dy)/nb, nb)
		}
	})
	return y
}

// AddNC adds t (N, C) to every position of x (N, C, …), as diffusers adds the
// time embedding to a ResNet block: x + temb[:, :, None, None].
func (tp *Tape) AddNC(x, t *Var) *Var {
	xs := x.Value.Shape
	if len(xs) < 2 || !nn.SameShape(t.Value.Shape, xs[:2]) {
		panic(fmt.Sprintf("grad.AddNC: cannot add %v to %v", t.Value.Shape, xs))
	}
	nc := xs[0] * xs[1]
	plane := x.Value.Len() / nc
	y := tp.result(xs, x, t)
	X, T, Y := x.Value.Data, t.Value.Data, y.Value.Data
	for i := 0; i < nc; i++ {
		for j, v := range X[i*plane : (i+1)*plane] {
			Y[i*plane+j] = v + T[i]
		}
	}
	tp.record(y, func() {
		dy := y.Grad.Data
		if wants(x) {
			addTo(tp.gradOf(x), dy)
		}
		if wants(t) {
			dt := tp.gradOf(t)
			for i := 0; i < nc; i++ {
				var s float32
				for _, v := range dy[i*plane : (i+1)*plane] {
					s += v
				}
				dt[i] += s
			}
		}
	})
	return y
}

// Sub is a − b for equal shapes.
func (tp *Tape) Sub(a, b *Var) *Var {
	mustShape("Sub", a.Value.Shape, b.Value.Shape)
	y := tp.result(a.Value.Shape, a, b)
	for i, v := range a.Value.Data {
		y.Value.Data[i] = v - b.Value.Data[i]
	}
	tp.record(y, func() {
		dy := y.Grad.Data
		if wants(a) {
			addTo(tp.gradOf(a), dy)
		}
		if wants(b) {
			db := tp.gradOf(b)
			for i, g := range dy {
				db[i] -= g
			}
		}
	})
	return y
}

// Mul is a ⊙ b for equal shapes.
func (tp *Tape) Mul(a, b *Var) *Var {
	mustShape("Mul", a.Value.Shape, b.Value.Shape)
	y := tp.result(a.Value.Shape, a, b)
	A, B := a.Value.Data, b.Value.Data
	for i, v := range A {
		y.Value.Data[i] = v * B[i]
	}
	tp.record(y, func() {
		dy := y.Grad.Data
		if wants(a) {
			da := tp.gradOf(a)
			for i, g := range dy {
				da[i] += g * B[i]
			}
		}
		if wants(b) {
			db := tp.gradOf(b)
			for i, g := range dy {
				db[i] += g * A[i]
			}
		}
	})
	return y
}

// Scale is c·x for a constant c.
func (tp *Tape) Scale(x *Var, c float32) *Var {
	y := tp.result(x.Value.Shape, x)
	for i, v := range x.Value.Data {
		y.Value.Data[i] = c * v
	}
	tp.record(y, func() {
		dx := tp.gradOf(x)
		for i, g := range y.Grad.Data {
			dx[i] += c * g
		}
	})
	return y
}

// MulScalar is s·x for a one-element Var s (CLIP's learned logit scale).
func (tp *Tape) MulScalar(x, s *Var) *Var {
	if s.Value.Len() != 1 {
		panic(fmt.Sprintf("grad.MulScalar: scalar has shape %v", s.Value.Shape))
	}
	c := s.Value.Data[0]
	y := tp.result(x.Value.Shape, x, s)
	for i, v := range x.Value.Data {
		y.Value.Data[i] = c * v
	}
	tp.record(y, func() {
		dy := y.Grad.Data
		if wants(x) {
			dx := tp.gradOf(x)
			for i, g := range dy {
				dx[i] += c * g
			}
		}
		if wants(s) {
			var sum float64
			for i, g := range dy {
				sum += float64(g) * float64(x.Value.Data[i])
			}
			tp.gradOf(s)[0] += float32(sum)
		}
	})
	return y
}

// Reshape views x with a new shape of the same size; one dimension may be
// −1 and is inferred. The value shares x's data (no copy).
func (tp *Tape) Reshape(x *Var, shape ...int) *Var {
	y := tp.wrap(x.Value.Reshape(shape...), x)
	tp.record(y, func() { addTo(tp.gradOf(x), y.Grad.Data) })
	return y
}

// Transpose swaps the last two dimensions: (…, A, C) -> (…, C, A), as
// x.transpose(-1, -2) followed by .contiguous(). With a reshape it turns
// feature maps (B, C, H·W) into token sequences (B, H·W, C) and back.
func (tp *Tape) Transpose(x *Var) *Var {
	xs := x.Value.Shape
	if len(xs) < 2 {
		panic(fmt.Sprintf("grad.Transpose: shape %v has fewer than 2 dimensions", xs))
	}
	a, c := xs[len(xs)-2], xs[len(xs)-1]
	shape := slices.Clone(xs)
	shape[len(xs)-2], shape[len(xs)-1] = c, a
	y := tp.result(shape, x)
	transpose(y.Value.Data, x.Value.Data, a, c, false)
	tp.record(y, func() { transpose(tp.gradOf(x), y.Grad.Data, c, a, true) })
	return y
}

// transpose writes (or, with add, adds) the transpose of every (a, c) matrix
// of src into dst as a (c, a) matrix.
func transpose(dst, src []float32, a, c int, add bool) {
	nn.Parallel(len(src)/(a*c), 1, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			s, d := src[m*a*c:(m+1)*a*c], dst[m*a*c:(m+1)*a*c]
			for i := 0; i < a; i++ {
				for j, v := range s[i*c : (i+1)*c] {
					if add {
						d[j*a+i] += v
					} else {
						d[j*a+i] = v
					}
				}
			}
		}
	})
}

// Concat joins Vars along dimension 1 (channels of NCHW), as torch.cat(…, 1)
// joins a U-Net's skip connection: (N, C1, …) + (N, C2, …) -> (N, C1+C2, …).
func (tp *Tape) Concat(xs ...*Var) *Var {
	ts := make([]*nn.Tensor, len(xs))
	for i, x := range xs {
		ts[i] = x.Value
		s0, s := xs[0].Value.Shape, x.Value.Shape
		if len(s) != len(s0) || len(s) < 2 || s[0] != s0[0] || !nn.SameShape(s[2:], s0[2:]) {
			panic(fmt.Sprintf("grad.Concat: cannot join %v and %v", s0, s))
		}
	}
	y := tp.wrap(nn.Concat(ts...), xs...)
	tp.record(y, func() {
		n := y.Value.Shape[0]
		total := y.Value.Len() / n // values per sample of the result
		off := 0                   // this input's offset inside a sample
		for _, x := range xs {
			sz := x.Value.Len() / n
			if wants(x) {
				dx := tp.gradOf(x)
				for b := 0; b < n; b++ {
					addTo(dx[b*sz:(b+1)*sz], y.Grad.Data[b*total+off:][:sz])
				}
			}
			off += sz
		}
	})
	return y
}

// Channels is the slice x[:, lo:hi] of dimension 1 (channels of NCHW):
// (N, C, …) -> (N, hi−lo, …), as torch.chunk splits the VAE encoder's
// moments into mean and log-variance.
func (tp *Tape) Channels(x *Var, lo, hi int) *Var {
	xs := x.Value.Shape
	if len(xs) < 2 || lo < 0 || hi > xs[1] || lo >= hi {
		panic(fmt.Sprintf("grad.Channels: [%d, %d) of shape %v", lo, hi, xs))
	}
	n := xs[0]
	inner := x.Value.Len() / (n * xs[1]) // values per channel
	shape := slices.Clone(xs)
	shape[1] = hi - lo
	y := tp.result(shape, x)
	sz, stride := (hi-lo)*inner, xs[1]*inner
	for b := 0; b < n; b++ {
		copy(y.Value.Data[b*sz:(b+1)*sz], x.Value.Data[b*stride+lo*inner:])
	}
	tp.record(y, func() {
		dx := tp.gradOf(x)
		for b := 0; b < n; b++ {
			addTo(dx[b*stride+lo*inner:][:sz], y.Grad.Data[b*sz:(b+1)*sz])
		}
	})
	return y
}

// Clamp limits every value of x to [lo, hi], as torch.clamp; the gradient
// passes where the value was inside and is 0 where it was clamped.
func (tp *Tape) Clamp(x *Var, lo, hi float32) *Var {
	y := tp.result(x.Value.Shape, x)
	for i, v := range x.Value.Data {
		y.Value.Data[i] = min(max(v, lo), hi)
	}
	tp.record(y, func() {
		dx := tp.gradOf(x)
		for i, v := range x.Value.Data {
			if v >= lo && v <= hi {
				dx[i] += y.Grad.Data[i]
			}
		}
	})
	return y
}

// UpsampleNearest2x repeats every value of x (N, C, H, W) over a 2×2 block:
// (N, C, H, W) -> (N, C, 2H, 2W). Backward sums each block's gradient.
func (tp *Tape) UpsampleNearest2x(x *Var) *Var {
	if len(x.Value.Shape) != 4 {
		panic(fmt.Sprintf("grad.UpsampleNearest2x: shape %v is not (N, C, H, W)", x.Value.Shape))
	}
	y := tp.wrap(nn.UpsampleNearest2x(x.Value), x)
	tp.record(y, func() {
		w := x.Value.Shape[3]
		dx, dy := tp.gradOf(x), y.Grad.Data
		nn.Parallel(len(dx)/w, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ { // r = (n·C + c)·H + row
				top, bot := dy[2*r*2*w:(2*r+1)*2*w], dy[(2*r+1)*2*w:(2*r+2)*2*w]
				d := dx[r*w : (r+1)*w]
				for i := range d {
					d[i] += top[2*i] + top[2*i+1] + bot[2*i] + bot[2*i+1]
				}
			}
		})
	})
	return y
}

// Embedding looks up rows of table (V, D): ids (any length L) -> (L, D), as
// torch.nn.Embedding. Viewing hidden states (B·L, D) as the table, it also
// picks CLIP's pooled tokens. Backward adds each row's gradient back onto
// its table row (ids may repeat).
func (tp *Tape) Embedding(table *Var, ids []int) *Var {
	if len(table.Value.Shape) != 2 {
		panic(fmt.Sprintf("grad.Embedding: table shape %v is not (V, D)", table.Value.Shape))
	}
	v, d := table.Value.Shape[0], table.Value.Shape[1]
	for _, id := range ids {
		if id < 0 || id >= v {
			panic(fmt.Sprintf("grad.Embedding: id %d outside table of %d rows", id, v))
		}
	}
	ids = slices.Clone(ids) // backward reads them after the caller moves on
	y := tp.result([]int{len(ids), d}, table)
	for i, id := range ids {
		copy(y.Value.Data[i*d:(i+1)*d], table.Value.Data[id*d:(id+1)*d])
	}
	tp.record(y, func() {
		dt := tp.gradOf(table)
		for i, id := range ids {
			row := dt[id*d : (id+1)*d]
			for j, g := range y.Grad.Data[i*d : (i+1)*d] {
				row[j] += g
			}
		}
	})
	return y
}
