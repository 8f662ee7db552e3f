package grad

import (
	"fmt"

	"github.com/sdgo/sdgo/internal/gemm"
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
//
// For stride 1 (the 3×3 convolutions that dominate training) neither matrix
// is built: dx is the convolution of dY, padded by K−1−pad, with the kernel
// flipped and its channel axes swapped, and dW is summed tap by tap from
// shifted views of the padded input (see weightGradShifted). A 1×1 kernel
// without padding is a plain matrix product both ways.
func (tp *Tape) Conv2dPad(x, w, b *Var, stride, top, bottom, left, right int) *Var {
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || (b != nil && b.Value.Len() != ws[0]) || stride < 1 {
		panic(fmt.Sprintf("grad.Conv2d: x %v, weight %v, bias %v, stride %d", xs, ws, shapeOf(b), stride))
	}
	var bias *nn.Tensor
	if b != nil {
		bias = b.Value
	}
	// Where weightGradBatched will run (the avx2 path), the forward pass's
	// im2col matrix of the batch, if it makes one, is kept on the tape for it.
	var keep func(n int) []float32
	if gemm.FastOrder() && stride == 1 && wants(w) {
		keep = func(n int) []float32 { return tp.buf(n, false) }
	}
	yv, col, ld := nn.Conv2dPadCol(x.Value, w.Value, bias, stride, top, bottom, left, right, keep)
	y := tp.wrap(yv, x, w, b)
	tp.record(y, func() {
		kh, kw := ws[2], ws[3]
		if wants(b) {
			sumPlanes(tp.gradOf(b), y.Grad)
		}
		direct := kh == 1 && kw == 1 && stride == 1 && top == 0 && bottom == 0 && left == 0 && right == 0
		switch {
		case direct:
			tp.conv1x1Backward(x, w, y.Grad)
		case stride == 1 && max(top, bottom) < kh && max(left, right) < kw:
			if wants(x) {
				// dx is the convolution of dy, padded by K−1−pad, with the
				// flipped, transposed kernel, which nn computes without im2col.
				wf := flipKernel(tp.tensor([]int{ws[1], ws[0], kh, kw}, false), w.Value) // (O, C, KH, KW) -> (C, O, KH, KW)
				tp.accumulate(x, nn.Conv2dPad(y.Grad, wf, nil, 1, kh-1-top, kh-1-bottom, kw-1-left, kw-1-right))
			}
			if wants(w) {
				if !weightGradBatched(tp, tp.gradOf(w), x.Value, y.Grad, kh, kw, top, left, col, ld) {
					weightGradShifted(tp, tp.gradOf(w), x.Value, y.Grad, kh, kw, top, left, right)
				}
			}
		default:
			tp.convIm2colBackward(x, w, y.Grad, stride, top, left)
		}
	})
	return y
}

// sumPlanes adds the sum of every (n, o) plane of dy (N, O, …) into db (O).
func sumPlanes(db []float32, dy *nn.Tensor) {
	o := dy.Shape[1]
	plane := dy.Len() / (dy.Shape[0] * o)
	for i := 0; i < dy.Len()/plane; i++ {
		var s float32
		for _, v := range dy.Data[i*plane : (i+1)*plane] {
			s += v
		}
		db[i%o] += s
	}
}

// conv1x1Backward is the backward pass of a 1×1 convolution without
// padding, per image a matrix product Y (O, H·W) = W (O, C) · X (C, H·W).
func (tp *Tape) conv1x1Backward(x, w *Var, dy *nn.Tensor) {
	n, c, o := x.Value.Shape[0], x.Value.Shape[1], w.Value.Shape[0]
	plane := x.Value.Len() / (n * c)
	for bi := 0; bi < n; bi++ {
		xb := x.Value.Data[bi*c*plane : (bi+1)*c*plane]
		dyb := dy.Data[bi*o*plane : (bi+1)*o*plane]
		if wants(w) {
			// (O, H·W) · (C, H·W)ᵀ -> (O, C)
			nn.MatMul(false, true, o, c, plane, dyb, plane, xb, plane, 1, tp.gradOf(w), c)
		}
		if wants(x) {
			// (O, C)ᵀ · (O, H·W) -> (C, H·W)
			nn.MatMul(true, false, c, plane, o, w.Value.Data, c, dyb, plane, 1, tp.gradOf(x)[bi*c*plane:], plane)
		}
	}
}

// convIm2colBackward is the general backward pass (strided convolutions):
// per image and band of output rows, with col the band's im2col matrix,
// dW += dY·colᵀ and dx += col2im(Wᵀ·dY).
func (tp *Tape) convIm2colBackward(x, w *Var, dy *nn.Tensor, stride, top, left int) {
	n, c, h, wd := x.Value.Shape[0], x.Value.Shape[1], x.Value.Shape[2], x.Value.Shape[3]
	o, kh, kw := w.Value.Shape[0], w.Value.Shape[2], w.Value.Shape[3]
	oh, ow := dy.Shape[2], dy.Shape[3]
	plane, ckk := oh*ow, c*kh*kw
	band := max(1, min(oh, colBudget/max(1, ckk*ow)))
	col := tp.buf(ckk*band*ow, false)
	for bi := 0; bi < n; bi++ {
		xb := x.Value.Data[bi*c*h*wd : (bi+1)*c*h*wd]
		dyb := dy.Data[bi*o*plane : (bi+1)*o*plane]
		for r0 := 0; r0 < oh; r0 += band {
			rows := min(band, oh-r0)
			cols := rows * ow
			if wants(w) {
				nn.Im2col(col[:ckk*cols], xb, c, h, wd, kh, kw, stride, top, left, r0, rows, ow)
				// (O, rows·OW) · (C·KH·KW, rows·OW)ᵀ -> (O, C·KH·KW)
				nn.MatMul(false, true, o, ckk, cols, dyb[r0*ow:], plane, col, cols, 1, tp.gradOf(w), ckk)
			}
			if wants(x) {
				// (O, C·KH·KW)ᵀ · (O, rows·OW) -> (C·KH·KW, rows·OW), reusing col
				nn.MatMul(true, false, ckk, cols, o, w.Value.Data, ckk, dyb[r0*ow:], plane, 0, col, cols)
				col2im(tp.gradOf(x)[bi*c*h*wd:(bi+1)*c*h*wd], col[:ckk*cols], c, h, wd, kh, kw, stride, top, left, r0, rows, ow)
			}
		}
	}
}

// flipKernel writes w (O, C, KH, KW) rotated by 180° with its channel axes
// swapped into dst (C, O, KH, KW): the kernel of the stride-1 convolution
// that maps dy back to dx.
func flipKernel(dst, w *nn.Tensor) *nn.Tensor {
	o, c, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	for oc := 0; oc < o; oc++ {
		for ci := 0; ci < c; ci++ {
			src := w.Data[(oc*c+ci)*kh*kw : (oc*c+ci+1)*kh*kw]
			d := dst.Data[(ci*o+oc)*kh*kw : (ci*o+oc+1)*kh*kw]
			for t, v := range src {
				d[kh*kw-1-t] = v // (i, j) -> (KH−1−i, KW−1−j)
			}
		}
	}
	return dst
}

// weightGradShifted adds the kernel gradient of a stride-1 convolution into
// dw (O, C, KH, KW) without im2col, mirroring nn's shifted forward: with the
// input copied zero-padded into rows of Wp = left+W+right values and dy
// copied into rows of the same length (its last KW−1 columns zero), the input
// under tap (i, j) of every output position p is the padded input at
// p + i·Wp + j, so per tap
//
//	dW_ij (O, C) += dY (O, n) · Xpad_ijᵀ (n, C)
//
// accumulated over images and bands of output rows in (KH·KW, O, C) order.
func weightGradShifted(tp *Tape, dw []float32, x, dy *nn.Tensor, kh, kw, top, left, right int) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, oh, ow := dy.Shape[1], dy.Shape[2], dy.Shape[3]
	taps := kh * kw
	wp := left + w + right
	band := max(1, min(oh, colBudget/max(1, max(c, o)*wp)-(kh-1)))
	xpad := tp.buf(c*(band+kh-1)*wp, false)
	dypad := tp.buf(o*band*wp, false)
	dwt := tp.buf(taps*o*c, true) // (KH·KW, O, C)
	for b := 0; b < n; b++ {
		xb := x.Data[b*c*h*w : (b+1)*c*h*w]
		dyb := dy.Data[b*o*oh*ow : (b+1)*o*oh*ow]
		for r0 := 0; r0 < oh; r0 += band {
			rows := min(band, oh-r0)
			inRows := rows + kh - 1
			cstride := inRows * wp
			// (C, rows+KH−1, Wp): input rows r0−top … zero-padded.
			nn.Parallel(c, 4, func(lo, hi int) {
				for ci := lo; ci < hi; ci++ {
					for t := 0; t < inRows; t++ {
						d := xpad[ci*cstride+t*wp : ci*cstride+(t+1)*wp]
						iy := r0 + t - top
						if iy < 0 || iy >= h {
							clear(d)
							continue
						}
						clear(d[:left])
						copy(d[left:left+w], xb[(ci*h+iy)*w:(ci*h+iy+1)*w])
						clear(d[left+w:])
					}
				}
			})
			cols := (rows-1)*wp + ow // the last row needs only its OW valid columns
			// (O, rows, OW) -> (O, cols) in rows of Wp, the extra columns zero.
			nn.Parallel(o, 4, func(lo, hi int) {
				for oc := lo; oc < hi; oc++ {
					d := dypad[oc*cols : (oc+1)*cols]
					for r := 0; r < rows; r++ {
						copy(d[r*wp:r*wp+ow], dyb[oc*oh*ow+(r0+r)*ow:][:ow])
						if r < rows-1 {
							clear(d[r*wp+ow : (r+1)*wp])
						}
					}
				}
			})
			for t := 0; t < taps; t++ {
				i, j := t/kw, t%kw
				// (O, cols) · (C, cols)ᵀ -> (O, C), this tap's weights
				nn.MatMul(false, true, o, c, cols, dypad, cols, xpad[i*wp+j:], cstride, 1, dwt[t*o*c:], c)
			}
		}
	}
	// (KH·KW, O, C) -> (O, C, KH, KW)
	for t := 0; t < taps; t++ {
		for oc := 0; oc < o; oc++ {
			for ci := 0; ci < c; ci++ {
				dw[(oc*c+ci)*taps+t] += dwt[(t*o+oc)*c+ci]
			}
		}
	}
}

// col2im is nn.Im2col's adjoint: it adds every entry of col back onto the
// input position it was read from, dx[ci, r·s+i−top, q·s+j−left] += col[…].
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

// weightGradBatched adds the kernel gradient of a stride-1 convolution into
// dw (O, C, KH, KW) as one matrix product for the whole batch,
//
//	dW (O, C·KH·KW) += dY (O, N·OH·OW) · colᵀ (N·OH·OW, C·KH·KW)
//
// with col the batch's im2col matrix (nn.Im2colBatch, or the forward pass's
// from nn.Conv2dPadCol when kept is not nil, at row stride ld) and dY's
// images side by side. At sd-mini's 8×8 latents weightGradShifted's products, one per image
// and tap, are about 16×16 deep; this one is N·OH·OW deep, and wastes no
// multiplications on padding columns. It adds in another order than
// weightGradShifted, so it runs only where gemm.FastOrder allows, and only
// while col fits in colBudget; it reports whether it ran.
func weightGradBatched(tp *Tape, dw []float32, x, dy *nn.Tensor, kh, kw, top, left int, kept []float32, ld int) bool {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, oh, ow := dy.Shape[1], dy.Shape[2], dy.Shape[3]
	plane, ckk := oh*ow, c*kh*kw
	if !gemm.FastOrder() || n*plane*ckk > colBudget {
		return false
	}
	cols := n * plane
	col := kept // (C·KH·KW, N·OH·OW), rows ld apart
	if col == nil {
		col, ld = tp.buf(ckk*cols, false), cols
		nn.Im2colBatch(col, x.Data, n, c, h, w, kh, kw, 1, top, left, oh, ow)
	}
	dyt := tp.buf(o*cols, false) // (O, N·OH·OW)
	nn.Parallel(n*o, max(1, 1<<14/plane), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			b, oc := j/o, j%o
			copy(dyt[oc*cols+b*plane:oc*cols+(b+1)*plane], dy.Data[j*plane:(j+1)*plane])
		}
	})
	// (O, N·OH·OW) · (C·KH·KW, N·OH·OW)ᵀ -> (O, C·KH·KW)
	nn.MatMul(false, true, o, ckk, cols, dyt, cols, col, ld, 1, dw, ckk)
	return true
}
