package unet

import (
	"math/bits"
	"sync"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
)

// conv applies a convolution. Convolutions with half-precision weights that
// nn.Conv2d would lower to im2col — every one but the 3×3 convolutions of
// the full-resolution level — run through convHalf, which never converts the
// weight to float32: nn.Conv2d converts the whole weight for each call, and
// the converted copies of the largest (1280 × 2560 × 3 × 3, 118 MB in
// float32) stay in its scratch pool, ~300 MB of the heap during a 512×512
// call. (A helper until package nn has the same path.)
func conv(c layer.Conv2d, x *nn.Tensor) *nn.Tensor {
	w := c.Weight
	o, k := w.Shape[0], w.Shape[2]
	oh := (x.Shape[2]+2*c.Pad-k)/c.Stride + 1
	ow := (x.Shape[3]+2*c.Pad-k)/c.Stride + 1
	shifted := k > 1 && c.Stride == 1 && oh*ow >= 2*o // nn's im2col-free path, whose scratch is small here
	if w.Half == nil || shifted {
		return c.Forward(x)
	}
	return convHalf(c, x, oh, ow)
}

// colBudget bounds convHalf's im2col buffer, in float32 values (32 MB); a
// variable so that tests can force several bands.
var colBudget = 8 << 20

// convHalf computes the convolution c (weights (O, C, K, K) in half
// precision) of x (N, C, H, W) into (N, O, OH, OW) as, per band of output
// rows of every sample, one product with the weight as the half-precision
// operand:
//
//	Yᵀ (N·rows·OW, O) = colᵀ (N·rows·OW, C·K·K) · Wᵀ (C·K·K, O)
//
// where col holds the input under every kernel tap (im2col; a 1×1
// convolution reads each sample's input in place instead). Yᵀ is then
// transposed into the output planes, plus the bias. Every band converts and
// packs the whole weight again, so bands are as tall as the budget allows
// and span the batch.
func convHalf(c layer.Conv2d, x *nn.Tensor, oh, ow int) *nn.Tensor {
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, k := c.Weight.Shape[0], c.Weight.Shape[2]
	ckk := ch * k * k
	y := nn.New(n, o, oh, ow)
	plane := oh * ow
	if k == 1 && c.Stride == 1 && c.Pad == 0 {
		// A 1×1 convolution: each sample's (C, H·W) input is col itself.
		yt := getScratch(plane * o)
		defer putScratch(yt)
		for b := range n {
			// (C, H·W)ᵀ · (O, C)ᵀ -> (H·W, O)
			nn.MatMulF16B(true, true, plane, o, ch, x.Data[b*ch*plane:(b+1)*ch*plane], plane, c.Weight.Half, ch, 0, yt, o)
			transposeBias(y.Data[b*o*plane:], plane, yt, plane, o, c.Bias)
		}
		return y
	}
	band := max(1, min(oh, colBudget/(ckk*n*ow)))
	col := getScratch(ckk * n * band * ow)
	yt := getScratch(n * band * ow * o)
	defer putScratch(col)
	defer putScratch(yt)
	for r0 := 0; r0 < oh; r0 += band {
		rows := min(band, oh-r0)
		cols := rows * ow // per sample
		ld := n * cols
		for b := range n {
			// (C·K·K, rows·OW) of sample b, at column b·rows·OW of col
			im2col(col[b*cols:], ld, x.Data[b*ch*h*w:(b+1)*ch*h*w], ch, h, w, k, c.Stride, c.Pad, r0, rows, ow)
		}
		// (C·K·K, N·rows·OW)ᵀ · (O, C·K·K)ᵀ -> (N·rows·OW, O)
		nn.MatMulF16B(true, true, ld, o, ckk, col, ld, c.Weight.Half, ckk, 0, yt, o)
		for b := range n {
			// (rows·OW, O) -> the band's rows of sample b's (O, OH, OW) planes, plus the bias
			transposeBias(y.Data[b*o*plane+r0*ow:], plane, yt[b*cols*o:(b+1)*cols*o], cols, o, c.Bias)
		}
	}
	return y
}

// im2col writes, for output rows [r0, r0+rows), the input under every
// kernel tap: col[((ci·K+i)·K+j)·ld + (r−r0)·OW+q] = x[ci, r·s+i−pad, q·s+j−pad],
// 0 outside the image.
func im2col(col []float32, ld int, x []float32, ch, h, w, k, stride, pad, r0, rows, ow int) {
	nn.Parallel(ch*k*k, 8, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			ci, i, j := row/(k*k), row/k%k, row%k
			src := x[ci*h*w : (ci+1)*h*w]
			dst := col[row*ld : row*ld+rows*ow]
			for r := range rows {
				d := dst[r*ow : (r+1)*ow]
				iy := (r0+r)*stride + i - pad
				if iy < 0 || iy >= h {
					clear(d)
					continue
				}
				srow := src[iy*w : (iy+1)*w]
				if stride == 1 {
					// q+j−pad in [0, w) <=> q in [pad−j, w+pad−j)
					qlo, qhi := min(ow, max(0, pad-j)), min(ow, w+pad-j)
					clear(d[:qlo])
					if qlo < qhi {
						copy(d[qlo:qhi], srow[qlo+j-pad:qhi+j-pad])
						clear(d[qhi:])
					} else {
						clear(d[qlo:])
					}
					continue
				}
				for q := range d {
					if ix := q*stride + j - pad; ix >= 0 && ix < w {
						d[q] = srow[ix]
					} else {
						d[q] = 0
					}
				}
			}
		}
	})
}

// transposeBias writes src (cols, O) transposed into dst, whose channel o
// starts at dst[o·stride]: dst[o·stride+p] = src[p·O+o] + bias[o].
func transposeBias(dst []float32, stride int, src []float32, cols, o int, bias *nn.Tensor) {
	const cb, pb = 16, 64 // blocks of channels × positions, as in addTokens
	cBlocks := (o + cb - 1) / cb
	nn.Parallel(cBlocks, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			c0, c1 := t*cb, min(t*cb+cb, o)
			for p0 := 0; p0 < cols; p0 += pb {
				p1 := min(p0+pb, cols)
				for c := c0; c < c1; c++ {
					var bv float32
					if bias != nil {
						bv = bias.Data[c]
					}
					row := dst[c*stride : c*stride+cols]
					for p := p0; p < p1; p++ {
						row[p] = src[p*o+c] + bv
					}
				}
			}
		}
	})
}

// Scratch buffers pooled by power-of-two capacity, so the im2col and
// transposed-output buffers of one call serve the next.
var scratch [48]sync.Pool

func getScratch(n int) []float32 {
	class := bits.Len(uint(max(n, 1) - 1))
	if p, ok := scratch[class].Get().(*[]float32); ok {
		return (*p)[:n]
	}
	return make([]float32, n, 1<<class)
}

func putScratch(s []float32) {
	s = s[:cap(s)]
	scratch[bits.Len(uint(len(s)-1))].Put(&s)
}
