package nn

import "github.com/sdgo/sdgo/internal/gemm"

// MatMul is the one matrix-multiply entry point of sdgo:
//
//	C = op(A)·op(B) + beta·C
//
// row-major, op(A) m×k, op(B) k×n, C m×n, where op transposes when the flag
// is set (A stored k×m, B stored n×k). Strides are the stored row lengths.
func MatMul(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.Sgemm(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// MatMulF16B is MatMul with B given as IEEE 754 half-precision bits (a
// weight kept in half precision, see Tensor.Half); B's values are converted
// exactly as the product packs them.
func MatMulF16B(transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	gemm.SgemmF16B(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// MatMulF16A is MatMul with A given as IEEE 754 half-precision bits (a
// convolution's weight kept in half precision); A's values are converted
// exactly as the product packs them.
func MatMulF16A(transA, transB bool, m, n, k int, a []uint16, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.SgemmF16A(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// Linear applies y = x·Wᵀ + b over the last dimension:
// x (…, in), weight (out, in) as PyTorch stores it, bias (out) or nil → (…, out).
// The weight may be in half precision (Tensor.Half).
func Linear(x, weight, bias *Tensor) *Tensor {
	in, out := weight.Shape[1], weight.Shape[0]
	rows := len(x.Data) / in
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), out)
	y := New(shape...)
	LinearInto(y.Data, x.Data, rows, weight, bias)
	return y
}

// LinearInto writes rows×out results of x (rows×in) · Wᵀ + b into dst.
func LinearInto(dst, x []float32, rows int, weight, bias *Tensor) {
	in, out := weight.Shape[1], weight.Shape[0]
	beta := float32(0)
	if bias != nil {
		// Parallel: for a new dst this is also the first touch of its pages.
		Parallel(rows, max(1, 1<<14/out), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(dst[r*out:(r+1)*out], bias.Data)
			}
		})
		beta = 1
	}
	// (rows, in) · (out, in)ᵀ -> (rows, out)
	if weight.Half != nil {
		MatMulF16B(false, true, rows, out, in, x, in, weight.Half, in, beta, dst, out)
		return
	}
	MatMul(false, true, rows, out, in, x, in, weight.Data, in, beta, dst, out)
}
