package grad

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
)

// colBudget bounds the im2col buffer (in float32s) of one band of output rows
// in the backward pass, as nn.Conv2dPad bounds its own. A variable so that
// tests can force several bands.
var colBudget = 4 << 20

// Conv2d is a 2-D convolution (cross-correlation, as torch.nn.Conv2d) with a
// square stride and the same zero padding on every side:
// x (N, C, H, W), w (O, C, KH, KW), b (O) or nil → (N, O, OH, OW).
func (tp *Tape) Conv2d(x, w, b *Var, stride, pad int) *Var {
	return tp.Conv2dPad(x, w, b, stride, pad, pad, pad, pad)
}

// Conv2dPad is Conv2d with separate zero padding per side (the VAE encoder's
// downsampler pads only right and bottom).
//
// The forward pass is nn.Conv2dPad. Backward, per image, with col the
// (C·KH·KW, OH·OW) im2col matrix of x (rebuilt band by band, not saved):
//
//	dW   += dY·colᵀ   (O, OH·OW)·(OH·OW, C·KH·KW)
//	dcol  = Wᵀ·dY     (C·KH·KW, O)·(O, OH·OW), scattered back onto dx by col2im
//	db   += Σ dY over positions
func (tp *Tape) Conv2dPad(x, w, b *Var, stride, top, bottom, left, right int) *Var {
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || (b != nil && b.Value.Len() != ws[0]) || stride < 1 {
		panic(fmt.Sprintf("grad.Conv2d: x %v, weight %v, bias %v, stride %d", xs, ws, shapeOf(b), stride))
	}
	var bias *nn.Tensor
	if b != nil {
		bias = b.Value
	}
	y := tp.wrap(nn.Conv2dPad(x.Value, w.Value, bias, stride, top, bottom, left, right), x, w, b)
	tp.record(y, func() {
		n, c, h, wd := xs[0], xs[1], xs[2], xs[3]
		o, kh, kw := ws[0], ws[2], ws[3]
		oh, ow := y.Value.Shape[2], y.Value.Shape[3]
		plane, ckk := oh*ow, c*kh*kw
		dy := y.Grad.Data
		var dx, dw []float32
		if wants(x) {
			dx = tp.gradOf(x)
		}
		if wants(w) {
			dw = tp.gradOf(w)
		}
		if wants(b) {
			db := tp.gradOf(b)
			for i := 0; i < n*o; i++ {
				var s float32
				for _, v := range dy[i*plane : (i+1)*plane] {
					s += v
				}
				db[i%o] += s
			}
		}
		W := w.Value.Data
		direct := kh == 1 && kw == 1 && stride == 1 && top == 0 && bottom == 0 && left == 0 && right == 0
		band := max(1, min(oh, colBudget/max(1, ckk*ow)))
		var col, dcol []float32
		if !direct {
			col = tp.buf(ckk*band*ow, false)
			if dx != nil {
				dcol = tp.buf(ckk*band*ow, false)
			}
		}
		for bi := 0; bi < n; bi++ {
			xb := x.Value.Data[bi*c*h*wd : (bi+1)*c*h*wd]
			dyb := dy[bi*o*plane : (bi+1)*o*plane]
			if direct {
				if dw != nil {
					// (O, H·W) · (C, H·W)ᵀ -> (O, C)
					nn.MatMul(false, true, o, c, plane, dyb, plane, xb, plane, 1, dw, c)
				}
				if dx != nil {
					// (O, C)ᵀ · (O, H·W) -> (C, H·W)
					nn.MatMul(true, false, c, plane, o, W, c, dyb, plane, 1, dx[bi*c*h*wd:], plane)
				}
				continue
			}
			for r0 := 0; r0 < oh; r0 += band {
				rows := min(band, oh-r0)
				cols := rows * ow
				if dw != nil {
					im2col(col[:ckk*cols], xb, c, h, wd, kh, kw, stride, top, left, r0, rows, ow)
					// (O, rows·OW) · (C·KH·KW, rows·OW)ᵀ -> (O, C·KH·KW)
					nn.MatMul(false, true, o, ckk, cols, dyb[r0*ow:], plane, col, cols, 1, dw, ckk)
				}
				if dx != nil {
					// (O, C·KH·KW)ᵀ · (O, rows·OW) -> (C·KH·KW, rows·OW)
					nn.MatMul(true, false, ckk, cols, o, W, ckk, dyb[r0*ow:], plane, 0, dcol, cols)
					col2im(dx[bi*c*h*wd:(bi+1)*c*h*wd], dcol[:ckk*cols], c, h, wd, kh, kw, stride, top, left, r0, rows, ow)
				}
			}
		}
	})
	return y
}

// im2col writes, for output rows [r0, r0+rows), the input value under every
// kernel tap: col[((ci·KH+i)·KW+j), (r−r0)·OW+q] = x[ci, r·s+i−top, q·s+j−left]
// (0 outside the image). It is nn's im2col, which is unexported.
func im2col(col, x []float32, c, h, w, kh, kw, stride, top, left, r0, rows, ow int) {
	cols := rows * ow
	nn.Parallel(c*kh*kw, 8, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			ci, ij := row/(kh*kw), row%(kh*kw)
			i, j := ij/kw, ij%kw
			dst := col[row*cols : (row+1)*cols]
			src := x[ci*h*w : (ci+1)*h*w]
			for r := 0; r < rows; r++ {
				iy := (r0+r)*stride + i - top
				d := dst[r*ow : (r+1)*ow]
				if iy < 0 || iy >= h {
					clear(d)
					continue
				}
				srow := src[iy*w : (iy+1)*w]
				for q := range d {
					ix := q*stride + j - left
					if ix < 0 || ix >= w {
						d[q] = 0
					} else {
						d[q] = srow[ix]
					}
				}
			}
		}
	})
}

// col2im is im2col's adjoint: it adds every entry of col back onto the input
// position it was read from, dx[ci, r·s+i−top, q·s+j−left] += col[…].
// Channels are split across goroutines, so no two write the same plane.
func col2im(dx, col []float32, c, h, w, kh, kw, stride, top, left, r0, rows, ow int) {
	cols := rows * ow
	nn.Parallel(c, 2, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			dst := dx[ci*h*w : (ci+1)*h*w]
			for ij := 0; ij < kh*kw; ij++ {
				i, j := ij/kw, ij%kw
				src := col[(ci*kh*kw+ij)*cols : (ci*kh*kw+ij+1)*cols]
				for r := 0; r < rows; r++ {
					iy := (r0+r)*stride + i - top
					if iy < 0 || iy >= h {
						continue
					}
					drow := dst[iy*w : (iy+1)*w]
					s := src[r*ow : (r+1)*ow]
					for q, v := range s {
						if ix := q*stride + j - left; ix >= 0 && ix < w {
							drow[ix] += v
						}
					}
				}
			}
		}
	})
}
