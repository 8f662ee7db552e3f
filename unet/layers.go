package unet

import (
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
)

// projectIn applies proj_in to an image, turning it into tokens:
// x (B, C, H, W) -> (B, H·W, Out), token p of sample b being
// W·x[b, :, p] + bias, tokens in row-major pixel order as diffusers'
// permute(0, 2, 3, 1) gives them. Each sample is one matrix product that
// reads the image as the transpose of its (C, H·W) matrix, so no transposed
// copy of the image is made.
func projectIn(proj layer.Linear, x *nn.Tensor) *nn.Tensor {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	n, out := h*w, proj.Weight.Shape[0]
	y := nn.New(b, n, out)
	for bi := range b {
		xb := x.Data[bi*c*n : (bi+1)*c*n]
		yb := y.Data[bi*n*out : (bi+1)*n*out]
		fillRows(yb, proj.Bias.Data)
		// (C, H·W)ᵀ · (Out, C)ᵀ -> (H·W, Out), added to the bias
		if proj.Weight.Half != nil {
			nn.MatMulF16B(true, true, n, out, c, xb, n, proj.Weight.Half, c, 1, yb, out)
		} else {
			nn.MatMul(true, true, n, out, c, xb, n, proj.Weight.Data, c, 1, yb, out)
		}
	}
	return y
}

// fillRows writes row into each consecutive len(row) values of dst.
func fillRows(dst, row []float32) {
	d := len(row)
	nn.Parallel(len(dst)/d, max(1, 1<<14/d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(dst[r*d:(r+1)*d], row)
		}
	})
}

// addTokens adds tokens (B, H·W, C) to the image x (B, C, H, W) in place,
// x[b, c, p] += tok[b, p, c] (the inverse of the token layout), and returns x.
func addTokens(x, tok *nn.Tensor) *nn.Tensor {
	b, c := x.Shape[0], x.Shape[1]
	n := len(x.Data) / (b * c)
	// Blocks of 16 channels × 64 pixels: the reads of tok stay within a few
	// cache lines per pixel, the writes of x within a few per channel.
	const cb, pb = 16, 64
	cBlocks := (c + cb - 1) / cb
	nn.Parallel(b*cBlocks, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			bi, c0 := t/cBlocks, t%cBlocks*cb
			c1 := min(c0+cb, c)
			xs := x.Data[bi*c*n : (bi+1)*c*n]
			ts := tok.Data[bi*n*c : (bi+1)*n*c]
			for p0 := 0; p0 < n; p0 += pb {
				p1 := min(p0+pb, n)
				for ch := c0; ch < c1; ch++ {
					row := xs[ch*n : (ch+1)*n]
					for p := p0; p < p1; p++ {
						row[p] += ts[p*c+ch]
					}
				}
			}
		}
	})
	return x
}
