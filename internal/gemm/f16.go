package gemm

import "github.com/x448/float16"

// SgemmF16B is Sgemm with B given as IEEE 754 half-precision bits, as model
// weights are kept in memory: B's values are converted to float32 exactly
// while they are packed, so the result equals Sgemm on the converted B.
func SgemmF16B(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if active == pathGonum {
		// gonum knows only float32: convert the whole of B first.
		rows, cols := k, n
		if transB {
			rows, cols = n, k
		}
		b32 := make([]float32, rows*cols)
		convert := kernelFor(pathGo).convert
		for i := range rows {
			convert(b32[i*cols:(i+1)*cols], b[i*ldb:i*ldb+cols])
		}
		sgemmGonum(transA, transB, m, n, k, alpha, a, lda, b32, cols, beta, c, ldc)
		return
	}
	product{kern: kernelFor(active), m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, transA: transA, b: matB{f16: b, ld: ldb, trans: transB}, c: c, ldc: ldc}.run()
}

// convertGo writes dst[i] = float32 of the half-precision bits src[i].
func convertGo(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = float16.Frombits(h).Float32()
	}
}
