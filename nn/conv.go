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
var colBudget = 4 << 20 // a variable so tests can force several bands

// useShifted enables conv2dShifted; benchmarks turn it off to compare.
var useShifted = true

// shiftBudget bounds the padded input band of conv2dShifted (in float32s).
var shiftBudget = 256 << 10

// Conv2dPad is Conv2d with separate zero padding per side (the VAE encoder's
// downsampler pads only right and bottom). The weight may be in half
// precision (Tensor.Half); the products convert it as they pack it.
func Conv2dPad(x, weight, bias *Tensor, stride, top, bottom, left, right int) *Tensor {
	y, _, _ := Conv2dPadCol(x, weight, bias, stride, top, bottom, left, right, nil)
	return y
}

// Conv2dPadCol is Conv2dPad that, where it multiplies the im2col matrix of
// the whole batch at once (small images, see conv2dBatched), builds that
// matrix in a buffer from alloc (when alloc is not nil) and returns it: col
// (C·KH·KW, N·OH·OW), image b's patches in columns [b·OH·OW, (b+1)·OH·OW),
// at row stride ld, as Im2colBatch writes it. A training step keeps it for
// the kernel gradient, dW += dY·colᵀ, instead of building it again. On the
// other paths col is nil. y is Conv2dPad's, bit for bit.
func Conv2dPadCol(x, weight, bias *Tensor, stride, top, bottom, left, right int, alloc func(n int) []float32) (y *Tensor, col []float32, ld int) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, kh, kw := weight.Shape[0], weight.Shape[2], weight.Shape[3]
	oh := (h+top+bottom-kh)/stride + 1
	ow := (w+left+right-kw)/stride + 1
	y = New(n, o, oh, ow)
	plane := oh * ow
	ckk := c * kh * kw
	beta := float32(0)
	if bias != nil {
		beta = 1
	}
	direct := kh == 1 && kw == 1 && stride == 1 && top == 0 && bottom == 0 && left == 0 && right == 0
	if !direct && useShifted && stride == 1 && (plane >= 2*o || winogradChoose(n, c, o, kh, kw, oh, ow) != nil) {
		conv2dShifted(y, x, weight, bias, top, bottom, left, right, 1, nil)
		return y, nil, 0
	}
	// Small images, and weights larger than the images for a 1×1 convolution
	// (which otherwise reads its input in place): one product for the batch.
	if n > 1 && n*ckk*plane <= colBudget && (!direct || plane < o) {
		col, ld = conv2dBatched(y, x, weight, bias, stride, top, left, alloc)
		return y, col, ld
	}
	band := max(1, min(oh, colBudget/max(1, ckk*ow)))
	if direct {
		band = oh // B is the input itself, (C, H·W)
	}
	var bandCol []float32
	if !direct {
		bandCol = getScratch(ckk * band * ow)
		defer putScratch(bandCol)
	}
	for b := 0; b < n; b++ {
		xb := x.Data[b*c*h*w : (b+1)*c*h*w]
		yb := y.Data[b*o*plane : (b+1)*o*plane]
		if bias != nil {
			Parallel(o, max(1, 1<<14/plane), func(lo, hi int) {
				for oc := lo; oc < hi; oc++ {
					fill(yb[oc*plane:(oc+1)*plane], bias.Data[oc])
				}
			})
		}
		for r0 := 0; r0 < oh; r0 += band {
			rows := min(band, oh-r0)
			cols := rows * ow
			src := xb // (C, H·W) for a 1×1 convolution
			if !direct {
				// (C·KH·KW, rows·OW) patches of the input under this band of outputs.
				im2col(bandCol, cols, xb, c, h, w, kh, kw, stride, top, left, r0, rows, ow)
				src = bandCol
			}
			// (O, C·KH·KW) · (C·KH·KW, rows·OW) -> (O, rows·OW), written into each output plane.
			if weight.Half != nil {
				MatMulF16A(false, false, o, cols, ckk, weight.Half, ckk, src, cols, beta, yb[r0*ow:], plane)
			} else {
				MatMul(false, false, o, cols, ckk, weight.Data, ckk, src, cols, beta, yb[r0*ow:], plane)
			}
		}
	}
	return y, nil, 0
}

// Im2col writes the patches of the image x (C, H, W) that a KH×KW
// convolution with the given stride and top and left zero padding reads for
// its output rows [r0, r0+rows) of width OW, as the (C·KH·KW, rows·OW)
// matrix col:
//
//	col[(ci·KH+i)·KW+j, (r−r0)·OW+q] = x[ci, r·stride+i−top, q·stride+j−left]
//
// (0 outside the image). Conv2dPad multiplies the weight (O, C·KH·KW) by it
// band by band; grad's backward pass multiplies it by the output gradient.
func Im2col(col, x []float32, c, h, w, kh, kw, stride, top, left, r0, rows, ow int) {
	im2col(col, rows*ow, x, c, h, w, kh, kw, stride, top, left, r0, rows, ow)
}

// im2col writes, for output rows [r0, r0+rows), the input value under every
// kernel tap: col[((ci·KH+i)·KW+j)·ld + (r−r0)·OW+q] = x[ci, r·s+i−top, q·s+j−left]
// (0 outside).
func im2col(col []float32, ld int, x []float32, c, h, w, kh, kw, stride, top, left, r0, rows, ow int) {
	cols := rows * ow
	if useGather && h*w < gatherPlane && kh*kw*cols <= maxGatherTable {
		im2colGather(col, ld, x, c, h, w, kh, kw, stride, top, left, r0, rows, ow)
		return
	}
	Parallel(c*kh*kw, 8, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			ci, ij := row/(kh*kw), row%(kh*kw)
			i, j := ij/kw, ij%kw
			dst := col[row*ld : row*ld+cols]
			src := x[ci*h*w : (ci+1)*h*w]
			if stride == 1 && ow == w {
				shiftRows(dst, src, h, w, r0+i-top, rows, j-left)
				continue
			}
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

// useGather enables im2colGather; tests turn it off to check the other paths
// on the same shapes.
var useGather = true

const (
	// gatherPlane bounds the images im2colGather serves: a plane of fewer
	// values, behind a zero, fits its stack array. At 8×8 (64 values) the
	// flat copies of shiftRows already win (BenchmarkIm2colSmall).
	gatherPlane = 32
	// maxGatherTable bounds its table (taps × output positions).
	maxGatherTable = 1 << 14
)

// im2colGather is im2col for tiny images (sd-mini's U-Net works on 8×8,
// 4×4 and 2×2 latents), where a copy per kernel tap and row costs more in
// calls than it moves: a table lists, for every tap and output position, 1 +
// the offset it reads in the plane, or 0 for padding, and each channel's
// plane, behind a zero, is gathered through it. The same values as the
// other paths (data movement only).
func im2colGather(col []float32, ld int, x []float32, c, h, w, kh, kw, stride, top, left, r0, rows, ow int) {
	taps, cols := kh*kw, rows*ow
	tab := make([]uint8, taps*cols) // (KH·KW, rows·OW)
	for i := range kh {
		for j := range kw {
			t := tab[(i*kw+j)*cols:]
			for r := range rows {
				iy := (r0+r)*stride + i - top
				for q := range ow {
					if ix := q*stride + j - left; iy >= 0 && iy < h && ix >= 0 && ix < w {
						t[r*ow+q] = uint8(1 + iy*w + ix)
					} else {
						t[r*ow+q] = 0
					}
				}
			}
		}
	}
	plane := h * w
	Parallel(c, max(1, 8/taps), func(lo, hi int) {
		var pad [gatherPlane]float32 // pad[0] stays 0: the padding
		for ci := lo; ci < hi; ci++ {
			copy(pad[1:1+plane], x[ci*plane:(ci+1)*plane])
			for k := range taps {
				src := tab[k*cols : (k+1)*cols]
				dst := col[(ci*taps+k)*ld:][:len(src)]
				for p, o := range src {
					dst[p] = pad[o&(gatherPlane-1)]
				}
			}
		}
	})
}

// shiftRows writes the rows×w block d with the rows iy0… of the image src
// (h rows of w) shifted by dj columns, zero outside the image:
// d[r·w+q] = src[(iy0+r)·w+q+dj]. It is im2col's row for a stride-1 kernel
// tap when the output is as wide as the input (a "same" padding), done as
// one flat copy of the valid rows, whose columns that wrapped around the
// image's edge are then zeroed, instead of a copy per row: at sd-mini's
// 8×8 latents the per-row copies cost more than the product they feed.
func shiftRows(d, src []float32, h, w, iy0, rows, dj int) {
	d = d[:rows*w]
	rlo, rhi := max(0, -iy0), min(rows, h-iy0) // rows inside the image
	if rlo >= rhi || dj >= w || dj <= -w {
		clear(d)
		return
	}
	lo, hi := rlo*w, rhi*w
	clear(d[:lo])
	clear(d[hi:])
	off := iy0*w + dj                                // d[f] = src[f+off]
	flo, fhi := max(lo, -off), min(hi, len(src)-off) // within src
	copy(d[flo:fhi], src[flo+off:fhi+off])
	clear(d[lo:flo])
	clear(d[fhi:hi])
	// Zero the columns q with q+dj outside [0, w): they were read from the
	// neighbouring row.
	for r := rlo; r < rhi; r++ {
		row := d[r*w : (r+1)*w]
		for q := w - dj; q < w; q++ { // dj > 0
			row[q] = 0
		}
		for q := 0; q < -dj; q++ { // dj < 0
			row[q] = 0
		}
	}
}

func fill(d []float32, v float32) {
	for i := range d {
		d[i] = v
	}
}

// Conv2dUpsample2x is Conv2d(UpsampleNearest2x(x), weight, bias, 1, pad),
// the upsampler of the U-Net and the VAE decoder, without holding the
// upsampled image when the convolution runs as a sum over kernel taps (the
// padded input bands are built from x directly): (N, C, H, W) ->
// (N, O, 2H+2·pad−KH+1, 2W+2·pad−KW+1). At the VAE's 512×512 level this
// spares a (1, 256, 512, 512) tensor of 268 MB.
func Conv2dUpsample2x(x, weight, bias *Tensor, pad int) *Tensor {
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	o, kh, kw := weight.Shape[0], weight.Shape[2], weight.Shape[3]
	oh, ow := 2*h+2*pad-kh+1, 2*w+2*pad-kw+1
	if !useShifted || (oh*ow < 2*o && winogradChoose(n, x.Shape[1], o, kh, kw, oh, ow) == nil) {
		return Conv2d(UpsampleNearest2x(x), weight, bias, 1, pad)
	}
	y := New(n, o, oh, ow)
	conv2dShifted(y, x, weight, bias, pad, pad, pad, pad, 2, nil)
	return y
}

// GroupNormSiLUConv2d is Conv2d(GroupNormSiLU(x, groups, normWeight,
// normBias, eps), weight, bias, 1, pad), the first half of every ResNet
// block, without holding the normalised tensor when the convolution runs as
// a sum over kernel taps: the padded input bands are normalised as they are
// built. x is left unchanged (the block adds it back).
func GroupNormSiLUConv2d(x *Tensor, groups int, normWeight, normBias *Tensor, eps float32, weight, bias *Tensor, pad int) *Tensor {
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	o, kh, kw := weight.Shape[0], weight.Shape[2], weight.Shape[3]
	oh, ow := h+2*pad-kh+1, w+2*pad-kw+1
	if !useShifted || (oh*ow < 2*o && winogradChoose(n, x.Shape[1], o, kh, kw, oh, ow) == nil) {
		return Conv2d(GroupNormSiLU(x, groups, normWeight, normBias, eps), weight, bias, 1, pad)
	}
	scale, shift := groupAffine(x, groups, normWeight, normBias, eps)
	y := New(n, o, oh, ow)
	conv2dShifted(y, x, weight, bias, pad, pad, pad, pad, 1, &preAct{scale, shift})
	return y
}

// preAct is SiLU(x·scale + shift) per (sample, channel), applied to the
// input of conv2dShifted as it is copied: a group norm and its SiLU.
type preAct struct{ scale, shift []float32 }

// conv2dShifted computes a stride-1 convolution into y without im2col: as a
// sum over the KH·KW kernel taps of one matrix product each. The input is
// copied once, zero-padded, into rows of Wp = left+W+right values; then,
// computing the output with that same row length (the last KW−1 columns of
// each row are junk and dropped), the input under tap (i, j) of every output
// position p is the padded input at p + i·Wp + j: a (C, n) matrix read in
// place with row stride (rows+KH−1)·Wp. So
//
//	Y (O, n) = Σ_{i,j} W_ij (O, C) · Xpad_ij (C, n)
//
// with W_ij the tap's weights, gathered once per call into (KH·KW, O, C).
// Bands of output rows bound the padded copies, as in the im2col path. With
// up = 2 (the only other value) the image convolved is x upsampled 2× by
// repetition (nearest); with pre, it is pre's activation of x.
func conv2dShifted(y, x, weight, bias *Tensor, top, bottom, left, right, up int, pre *preAct) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, kh, kw := weight.Shape[0], weight.Shape[2], weight.Shape[3]
	oh, ow := y.Shape[2], y.Shape[3]
	if v := winogradChoose(n, c, o, kh, kw, oh, ow); v != nil {
		conv2dWinograd(v, y, x, weight, bias, top, left, up, pre)
		return
	}
	taps := kh * kw
	wp := left + up*w + right
	// (O, C, KH, KW) -> (KH·KW, O, C), in the weight's precision.
	var wt []float32
	var wt16 []uint16
	if weight.Half != nil {
		wt16 = make([]uint16, taps*o*c)
		gatherTaps(wt16, weight.Half, o, c, taps)
	} else {
		wt = getScratch(taps * o * c)
		defer putScratch(wt)
		gatherTaps(wt, weight.Data, o, c, taps)
	}
	band := max(1, shiftBudget/max(1, max(c, o)*wp)-(kh-1), (2048+wp-1)/wp)
	band = min(band, oh)
	xpad := getScratch(c * (band + kh - 1) * wp)
	ypad := getScratch(o * band * wp)
	defer putScratch(xpad)
	defer putScratch(ypad)
	for b := 0; b < n; b++ {
		xb := x.Data[b*c*h*w : (b+1)*c*h*w]
		yb := y.Data[b*o*oh*ow : (b+1)*o*oh*ow]
		for r0 := 0; r0 < oh; r0 += band {
			rows := min(band, oh-r0)
			inRows := rows + kh - 1
			cstride := inRows * wp
			// (C, rows+KH−1, Wp): input rows r0−top … zero-padded
			fillPadded(xpad, xb, c, h, w, inRows, wp, r0-top, left, up, pre, b)
			cols := (rows-1)*wp + ow // the last row needs only its OW valid columns
			for t := 0; t < taps; t++ {
				i, j := t/kw, t%kw
				beta := float32(1)
				if t == 0 {
					beta = 0
				}
				// (O, C) · (C, cols) -> (O, cols), summed over the taps
				if wt16 != nil {
					MatMulF16A(false, false, o, cols, c, wt16[t*o*c:(t+1)*o*c], c, xpad[i*wp+j:], cstride, beta, ypad, cols)
				} else {
					MatMul(false, false, o, cols, c, wt[t*o*c:(t+1)*o*c], c, xpad[i*wp+j:], cstride, beta, ypad, cols)
				}
			}
			// (O, rows, Wp) -> the band's (O, rows, OW), plus the bias
			Parallel(o, 4, func(lo, hi int) {
				for oc := lo; oc < hi; oc++ {
					var bv float32
					if bias != nil {
						bv = bias.Data[oc]
					}
					for r := 0; r < rows; r++ {
						src := ypad[oc*cols+r*wp : oc*cols+r*wp+ow]
						dst := yb[oc*oh*ow+(r0+r)*ow : oc*oh*ow+(r0+r+1)*ow]
						for q, v := range src {
							dst[q] = v + bv
						}
					}
				}
			})
		}
	}
}

// fillPadded writes the (C, inRows, Wp) band of sample b's image xb (C, H, W)
// that starts at image row iy0, zero-padded: row t, column q of channel ci is
// the image's row iy0+t, column q−left, or 0 outside it; with up = 2 the
// image is x upsampled 2× by repetition (its row iy, column q are x's iy/2,
// q/2); with pre, pre's activation of it. Wp must be at least left + up·W.
func fillPadded(xpad, xb []float32, c, h, w, inRows, wp, iy0, left, up int, pre *preAct, b int) {
	cstride := inRows * wp
	Parallel(c, 4, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for t := 0; t < inRows; t++ {
				d := xpad[ci*cstride+t*wp : ci*cstride+(t+1)*wp]
				iy := iy0 + t
				if iy < 0 || iy >= up*h {
					clear(d)
					continue
				}
				clear(d[:left])
				src := xb[(ci*h+iy/up)*w : (ci*h+iy/up+1)*w]
				if up == 1 {
					copy(d[left:left+w], src)
				} else {
					e := d[left : left+2*w] // up == 2
					for q, v := range src {
						e[2*q], e[2*q+1] = v, v
					}
				}
				if pre != nil {
					e := d[left : left+up*w]
					siluAffine(e, e, pre.scale[b*c+ci], pre.shift[b*c+ci])
				}
				clear(d[left+up*w:])
			}
		}
	})
}

// gatherTaps rearranges a (O, C, taps) weight into (taps, O, C):
// dst[(t·O + o)·C + c] = src[(o·C + c)·taps + t].
func gatherTaps[T float32 | uint16](dst, src []T, o, c, taps int) {
	Parallel(o, 16, func(lo, hi int) {
		for oc := lo; oc < hi; oc++ {
			s := src[oc*c*taps : (oc+1)*c*taps]
			for ci := 0; ci < c; ci++ {
				for t := 0; t < taps; t++ {
					dst[(t*o+oc)*c+ci] = s[ci*taps+t]
				}
			}
		}
	})
}

// conv2dBatched is the im2col path for small images: the patches of all N
// images side by side make one product, (O, C·KH·KW) · (C·KH·KW, N·OH·OW),
// so the weight is read (and, in half precision, converted) once, not N
// times; the result is then scattered to the N output images. The patches
// go to a buffer from alloc, returned with its row stride, or with alloc nil
// to scratch memory (and nil is returned).
func conv2dBatched(y, x, weight, bias *Tensor, stride, top, left int, alloc func(n int) []float32) ([]float32, int) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, kh, kw := weight.Shape[0], weight.Shape[2], weight.Shape[3]
	oh, ow := y.Shape[2], y.Shape[3]
	plane, ckk := oh*ow, c*kh*kw
	cols := n * plane
	ld := colStride(cols)
	var col, kept []float32
	if alloc != nil {
		col = alloc(ckk * ld)
		kept = col
	} else {
		col = getScratch(ckk * ld)
		defer putScratch(col)
	}
	out := getScratch(o * cols)
	defer putScratch(out)
	for b := 0; b < n; b++ {
		// image b's patches are columns [b·OH·OW, (b+1)·OH·OW) of col
		im2col(col[b*plane:], ld, x.Data[b*c*h*w:(b+1)*c*h*w], c, h, w, kh, kw, stride, top, left, 0, oh, ow)
	}
	// (O, C·KH·KW) · (C·KH·KW, N·OH·OW) -> (O, N·OH·OW)
	if weight.Half != nil {
		MatMulF16A(false, false, o, cols, ckk, weight.Half, ckk, col, ld, 0, out, cols)
	} else {
		MatMul(false, false, o, cols, ckk, weight.Data, ckk, col, ld, 0, out, cols)
	}
	// (O, N, OH·OW) -> (N, O, OH·OW), plus the bias
	Parallel(n*o, max(1, 1<<14/plane), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			b, oc := j/o, j%o
			var bv float32
			if bias != nil {
				bv = bias.Data[oc]
			}
			// v·1 + bv rounds as v + bv, in the AVX2 kernel's fused
			// multiply-add too: the bits of a plain loop.
			affine(y.Data[j*plane:(j+1)*plane], out[oc*cols+b*plane:oc*cols+(b+1)*plane], 1, bv)
		}
	})
	return kept, ld
}

// colStride is the row stride of an im2col matrix of cols columns that
// a product reads as its B operand: cols, or 16 more when cols is a multiple
// of 512. gemm packs a B whose row stride is a multiple of 2 KiB (its rows
// would evict each other from the cache) and reads any other in place, so at
// sd-mini's 16 images of 8×8 (1024 columns) the padding spares a copy of
// the whole matrix. The stride changes no sum: the product is the same, bit
// for bit, packed or in place.
func colStride(cols int) int {
	if cols%512 == 0 {
		return cols + 16
	}
	return cols
}

// Im2colBatch writes the im2col matrices of the n images x (N, C, H, W) side
// by side as the (C·KH·KW, N·OH·OW) matrix col, image b's patches in columns
// [b·OH·OW, (b+1)·OH·OW), as Conv2dPad's batched path multiplies them:
//
//	col[(ci·KH+i)·KW+j, b·OH·OW+r·OW+q] = x[b, ci, r·stride+i−top, q·stride+j−left]
//
// (0 outside the image).
func Im2colBatch(col, x []float32, n, c, h, w, kh, kw, stride, top, left, oh, ow int) {
	plane := oh * ow
	for b := 0; b < n; b++ {
		im2col(col[b*plane:], n*plane, x[b*c*h*w:(b+1)*c*h*w], c, h, w, kh, kw, stride, top, left, 0, oh, ow)
	}
}
