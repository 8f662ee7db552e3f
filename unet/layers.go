package unet

import (
	"github.com/sdgo/sdgo/nn"
)

// toTokens turns an image (B, C, H, W) into a token sequence (B, H·W, C),
// tokens in row-major pixel order, as diffusers' permute(0, 2, 3, 1) does.
func toTokens(x *nn.Tensor) *nn.Tensor {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := nn.New(b, h*w, c)
	transpose(y.Data, x.Data, b, c, h*w)
	return y
}

// fromTokens is the inverse of toTokens: (B, H·W, C) -> (B, C, H, W).
func fromTokens(x *nn.Tensor, h, w int) *nn.Tensor {
	b, c := x.Shape[0], x.Shape[2]
	y := nn.New(b, c, h, w)
	transpose(y.Data, x.Data, b, h*w, c)
	return y
}

// transpose writes the batch of b row-major (rows × cols) matrices in src to
// dst as (cols × rows) matrices.
func transpose(dst, src []float32, b, rows, cols int) {
	nn.Parallel(b*cols, 16, func(lo, hi int) {
		for bc := lo; bc < hi; bc++ { // one output row: batch bi, source column j
			bi, j := bc/cols, bc%cols
			s := src[bi*rows*cols:]
			d := dst[bc*rows : (bc+1)*rows]
			for i := range d {
				d[i] = s[i*cols+j]
			}
		}
	})
}
