package nn

// Conv2d is a 2-D convolution (cross-correlation, as PyTorch computes it)
// with a square stride and the same zero padding on every side:
// x (N, C, H, W), weight (O, C, KH, KW), bias (O) or nil → (N, O, OH, OW)
// with OH = (H + 2·pad − KH)/stride + 1.
func Conv2d(x, weight, bias *Tensor, stride, pad int) *Tensor {
	return Conv2dPad(x, weight, bias, stride, pad, pad, pad, pad)
}

// colBudget bounds the im2col buffer (in float32s) of one band of output rows,
// so large convolutions never materialise their whole im2col matrix.
const colBudget = 4 << 20

// Conv2dPad is Conv2d with separate zero padding per side (the VAE encoder's
// downsampler pads only right and bottom).
func Conv2dPad(x, weight, bias *Tensor, stride, top, bottom, left, right int) *Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, kh, kw := weight.Shape[0], weight.Shape[2], weight.Shape[3]
	oh := (h+top+bottom-kh)/stride + 1
	ow := (w+left+right-kw)/stride + 1
	y := New(n, o, oh, ow)
	plane := oh * ow
	ckk := c * kh * kw
	beta := float32(0)
	if bias != nil {
		beta = 1
	}
	direct := kh == 1 && kw == 1 && stride == 1 && top == 0 && bottom == 0 && left == 0 && right == 0
	band := max(1, min(oh, colBudget/max(1, ckk*ow)))
	var col []float32
	if !direct {
		col = make([]float32, ckk*band*ow)
	}
	for b := 0; b < n; b++ {
		xb := x.Data[b*c*h*w : (b+1)*c*h*w]
		yb := y.Data[b*o*plane : (b+1)*o*plane]
		if bias != nil {
			for oc := 0; oc < o; oc++ {
				fill(yb[oc*plane:(oc+1)*plane], bias.Data[oc])
			}
		}
		if direct {
			// (O, C) · (C, H·W) -> (O, H·W)
			MatMul(false, false, o, plane, c, weight.Data, c, xb, plane, beta, yb, plane)
			continue
		}
		for r0 := 0; r0 < oh; r0 += band {
			rows := min(band, oh-r0)
			cols := rows * ow
			// (C·KH·KW, rows·OW) patches of the input under this band of outputs.
			im2col(col[:ckk*cols], xb, c, h, w, kh, kw, stride, top, left, r0, rows, ow)
			// (O, C·KH·KW) · (C·KH·KW, rows·OW) -> (O, rows·OW), written into each output plane.
			MatMul(false, false, o, cols, ckk, weight.Data, ckk, col, cols, beta, yb[r0*ow:], plane)
		}
	}
	return y
}

// im2col writes, for output rows [r0, r0+rows), the input value under every
// kernel tap: col[((ci·KH+i)·KW+j), (r−r0)·OW+q] = x[ci, r·s+i−top, q·s+j−left] (0 outside).
func im2col(col, x []float32, c, h, w, kh, kw, stride, top, left, r0, rows, ow int) {
	cols := rows * ow
	Parallel(c*kh*kw, 8, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			ci, ij := row/(kh*kw), row%(kh*kw)
			i, j := ij/kw, ij%kw
			dst := col[row*cols : (row+1)*cols]
			src := x[ci*h*w : (ci+1)*h*w]
			for r := 0; r < rows; r++ {
				iy := (r0+r)*stride + i - top
				d := dst[r*ow : (r+1)*ow]
				if iy < 0 || iy >= h {
					fill(d, 0)
					continue
				}
				srow := src[iy*w : (iy+1)*w]
				if stride == 1 {
					// q+j-left in [0, w) <=> q in [left-j, w+left-j)
					qlo, qhi := max(0, left-j), min(ow, w+left-j)
					if qlo >= qhi {
						fill(d, 0)
						continue
					}
					fill(d[:qlo], 0)
					copy(d[qlo:qhi], srow[qlo+j-left:qhi+j-left])
					fill(d[qhi:], 0)
					continue
				}
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

func fill(d []float32, v float32) {
	for i := range d {
		d[i] = v
	}
}
