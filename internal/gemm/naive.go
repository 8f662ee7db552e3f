package gemm

// naive is the reference loop that defines Sgemm; tests check every path
// against it and against a float64 version of it.
//
//	for i := range m {
//		for j := range n {
//			var s float32
//			for p := range k {
//				s += op(A)[i][p] * op(B)[p][j]
//			}
//			C[i][j] = alpha*s + beta*C[i][j] // beta 0: C[i][j] = alpha*s
//		}
//	}
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := range m {
		for j := range n {
			var s float32
			for p := range k {
				var av float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				var bv float32
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
