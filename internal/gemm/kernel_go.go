package gemm

// goKernel is the pure-Go micro-kernel: a 4×4 tile of C in 16 local
// variables, which the compiler keeps in registers.
var goKernel = kernel{mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, stridedB: true, tile: tileGo, convert: convertGo}

// tileGo is the micro-kernel of the "go" path. It computes
//
//	for i := range 4 {
//		for j := range 4 {
//			var s float32
//			for p := range k {
//				s += a[i*rs+p*cs] * b[p*bs+j]
//			}
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j] // beta 0: alpha*s
//		}
//	}
func tileGo(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	// The 4 rows of A: row i's step p is at a[i*rs+p*cs].
	a0, a1, a2, a3 := a[:(k-1)*cs+1], a[rs:rs+(k-1)*cs+1], a[2*rs:2*rs+(k-1)*cs+1], a[3*rs:3*rs+(k-1)*cs+1]
	b = b[:(k-1)*bs+4]
	for p, q := 0, 0; p < len(b); p, q = p+bs, q+cs {
		av0, av1, av2, av3 := a0[q], a1[q], a2[q], a3[q]
		bv := b[p : p+4 : p+4]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += av0 * b0
		c01 += av0 * b1
		c02 += av0 * b2
		c03 += av0 * b3
		c10 += av1 * b0
		c11 += av1 * b1
		c12 += av1 * b2
		c13 += av1 * b3
		c20 += av2 * b0
		c21 += av2 * b1
		c22 += av2 * b2
		c23 += av2 * b3
		c30 += av3 * b0
		c31 += av3 * b1
		c32 += av3 * b2
		c33 += av3 * b3
	}
	store4(c[0*ldc:], alpha, beta, c00, c01, c02, c03)
	store4(c[1*ldc:], alpha, beta, c10, c11, c12, c13)
	store4(c[2*ldc:], alpha, beta, c20, c21, c22, c23)
	store4(c[3*ldc:], alpha, beta, c30, c31, c32, c33)
}

// store4 sets c[0:4] = alpha*s + beta*c, not reading c when beta is 0.
func store4(c []float32, alpha, beta float32, s0, s1, s2, s3 float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*s0, alpha*s1, alpha*s2, alpha*s3
		return
	}
	c[0] = alpha*s0 + beta*c[0]
	c[1] = alpha*s1 + beta*c[1]
	c[2] = alpha*s2 + beta*c[2]
	c[3] = alpha*s3 + beta*c[3]
}
