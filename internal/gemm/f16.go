package gemm

import "github.com/x448/float16"

// SgemmF16B is Sgemm with B given as IEEE 754 half-precision bits, as model
// weights are kept in memory: B's values are converted to float32 exactly
// while they are packed, so the result equals Sgemm on the converted B.
// A linear layer's weight (out, in) is B with transB.
func SgemmF16B(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	sgemm(m, n, k, alpha, operand{f32: a, ld: lda, trans: transA}, operand{f16: b, ld: ldb, trans: transB}, beta, c, ldc)
}

// SgemmF16A is Sgemm with A given as IEEE 754 half-precision bits, converted
// to float32 exactly while A is packed. A convolution's weight
// (Cout, Cin·KH·KW) is A.
func SgemmF16A(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	sgemm(m, n, k, alpha, operand{f16: a, ld: lda, trans: transA}, operand{f32: b, ld: ldb, trans: transB}, beta, c, ldc)
}

// widen returns x with its half-precision elements converted to float32, in
// a new slice when x has them.
func (x operand) widen(rows, cols int) operand {
	if x.f16 == nil {
		return x
	}
	if x.trans {
		rows, cols = cols, rows
	}
	w := make([]float32, rows*cols) // (rows, cols) as stored
	for i := range rows {
		convertGo(w[i*cols:(i+1)*cols], x.f16[i*x.ld:i*x.ld+cols])
	}
	return operand{f32: w, ld: cols, trans: x.trans}
}

// convertGo writes dst[i] = float32 of the half-precision bits src[i].
func convertGo(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = float16.Frombits(h).Float32()
	}
}

// convertWith returns a kernel.convert that runs the assembly conv on the
// leading multiple of width values and Go on the rest.
func convertWith(conv func(dst *float32, src *uint16, n int), width int) func(dst []float32, src []uint16) {
	return func(dst []float32, src []uint16) {
		dst = dst[:len(src)]
		n := len(src) / width * width
		if n > 0 {
			conv(&dst[0], &src[0], n)
		}
		convertGo(dst[n:], src[n:])
	}
}
