// Package gemm is sdgo's single matrix-multiply entry point: every matrix
// product of package nn (linear layers, convolutions lowered to GEMM,
// attention) ends in Sgemm.
//
// Sgemm follows BLAS sgemm, row-major:
//
//	C = alpha*op(A)*op(B) + beta*C
//
// where op(X) is X or its transpose, op(A) is m×k, op(B) is k×n and C is m×n.
// Element (i, j) of a row-major matrix with row stride ld is x[i*ld+j].
//
// SgemmF16A and SgemmF16B take A or B as half-precision bits, the form model
// weights are kept in, and convert them while packing.
//
// The fast paths follow Goto's algorithm, as BLIS does (see kernel): op(B) is
// taken block by block in column panels that stay in cache (packed, unless
// its rows can be read in place), and a micro-kernel written in assembly
// multiplies a few rows of A by one panel, keeping a tile of C in vector
// registers. Sgemm splits the larger of m and n into parts that up to Threads
// goroutines take in turn.
//
// Several paths compute the same product; Kernel reports the one in use, the
// first of these that the CPU runs:
//
//   - "avx512": 12×32 tiles with AVX-512 (amd64),
//   - "avx2":   6×16 tiles with AVX2 and FMA (amd64),
//   - "neon":   8×12 tiles with NEON (arm64),
//   - "gonum":  gonum's blas32.Gemm (amd64 without AVX2),
//   - "go":     4×4 tiles in pure Go, with the same packing and blocking as
//     the assembly; the path of other architectures and of the build tag
//     noasm, which removes the assembly.
//
// Every path computes the reference loop in naive.go, up to the order of the
// additions.
package gemm

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// path names one implementation of Sgemm.
type path int

const (
	pathGo path = iota
	pathGonum
	pathAVX2
	pathAVX512
	pathNEON
)

var pathNames = [...]string{pathGo: "go", pathGonum: "gonum", pathAVX2: "avx2", pathAVX512: "avx512", pathNEON: "neon"}

func (p path) String() string { return pathNames[p] }

// active is the path Sgemm runs. It is chosen once from the CPU's features;
// tests switch it to run every path on the same machine.
var active = bestPath()

// Kernel reports which path Sgemm runs: "avx512", "avx2", "neon", "gonum"
// or "go".
func Kernel() string { return active.String() }

// threads bounds the goroutines of one Sgemm call; 0 means GOMAXPROCS.
var threads atomic.Int64

// SetThreads bounds the goroutines Sgemm uses. n <= 0 restores the default,
// runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	threads.Store(int64(max(n, 0)))
}

// Threads returns the number of goroutines Sgemm may use.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, row-major, like BLAS sgemm:
// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides.
// op(A) is A, stored m×k, or with transA its transpose, A stored k×m;
// likewise op(B) is B (k×n) or with transB Bᵀ, B stored n×k.
//
// As in BLAS, C is not read when beta is 0 (NaN there is overwritten), and
// A and B are not read when alpha is 0 or k is 0.
//
// Sgemm panics, like BLAS, when a dimension is negative, a stride is shorter
// than its row or a slice is too short for its matrix: these are programming
// errors in the caller, not bad data.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	sgemm(m, n, k, alpha, operand{f32: a, ld: lda, trans: transA}, operand{f32: b, ld: ldb, trans: transB}, beta, c, ldc)
}

// sgemm computes C = alpha*op(A)*op(B) + beta*C on the active path, its
// arguments checked.
func sgemm(m, n, k int, alpha float32, a, b operand, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if active == pathGonum {
		// gonum knows only float32.
		a, b = a.widen(m, k), b.widen(k, n)
		sgemmGonum(a.trans, b.trans, m, n, k, alpha, a.f32, a.ld, b.f32, b.ld, beta, c, ldc)
		return
	}
	product{kern: kernelFor(active), m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, b: b, c: c, ldc: ldc}.run()
}

// check panics with a message naming the bad argument.
func check(transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	// Rows and columns of A and B as stored.
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic(fmt.Sprintf("gemm: lda=%d < %d columns of A", lda, ac))
	}
	if ldb < max(1, bc) {
		panic(fmt.Sprintf("gemm: ldb=%d < %d columns of B", ldb, bc))
	}
	if ldc < max(1, n) {
		panic(fmt.Sprintf("gemm: ldc=%d < %d columns of C", ldc, n))
	}
	if m == 0 || n == 0 {
		return
	}
	if ar > 0 && ac > 0 && lenA < (ar-1)*lda+ac {
		panic(fmt.Sprintf("gemm: len(a)=%d too short for %d×%d with stride %d", lenA, ar, ac, lda))
	}
	if br > 0 && bc > 0 && lenB < (br-1)*ldb+bc {
		panic(fmt.Sprintf("gemm: len(b)=%d too short for %d×%d with stride %d", lenB, br, bc, ldb))
	}
	if lenC < (m-1)*ldc+n {
		panic(fmt.Sprintf("gemm: len(c)=%d too short for %d×%d with stride %d", lenC, m, n, ldc))
	}
}

// scale sets C = beta*C, writing zeros (not 0*C) when beta is 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// sgemmGonum is Sgemm by gonum's blas32.Gemm.
func sgemmGonum(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	ar, ac := m, k
	if transA {
		tA, ar, ac = blas.Trans, k, m
	}
	br, bc := k, n
	if transB {
		tB, br, bc = blas.Trans, n, k
	}
	blas32.Gemm(tA, tB, alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: b},
		beta,
		blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}
