//go:build !noasm

package gemm

// Every arm64 CPU has NEON (Advanced SIMD) with fp16 conversion (FCVTL is
// part of the base ARMv8-A), so the NEON path needs no feature check.

// bestPath is the NEON path.
func bestPath() path { return pathNEON }

// kernelFor returns the micro-kernel of path p.
func kernelFor(p path) *kernel {
	if p == pathNEON {
		return &neonKernel
	}
	return &goKernel
}

// paths lists the paths this build runs, for tests.
func paths() []path { return []path{pathGo, pathGonum, pathNEON} }

// neonKernel computes 8×12 tiles with NEON: 24 accumulators of 4 lanes,
// 3 registers of B and the broadcasts of A fill the 32 vector registers.
// Its blocks suit a core with 64 KiB of L1d and 1–2 MiB of L2 (Apple M,
// Neoverse V1/V2) and still fit the 64 KiB/512 KiB of a Cortex-A76: a B
// panel of 256 steps (12 KiB) stays in L1, 96 rows of A by 256 steps
// (96 KiB) in L2. Not tuned on hardware (see docs/PERFORMANCE.md).
var neonKernel = kernel{mr: 8, nr: 12, kc: 256, mc: 96, nc: 1536,
	stridedB: true,
	tile: func(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
		_, _, _ = a[7*rs+(k-1)*cs], b[(k-1)*bs+11], c[7*ldc+11] // the assembly stays in bounds
		tileNEON(k, &a[0], rs, cs, &b[0], bs, &c[0], ldc, alpha, beta)
	},
	convert: convertWith(convertNEON, 8),
}

// peakAsm returns the NEON peak loop: 24 FMLAs of 4 lanes per iteration.
func peakAsm(p path) (loop func(n int), flops float64) {
	if p == pathNEON {
		return func(n int) { peakNEON(n) }, 2 * 24 * 4
	}
	return nil, 0
}

// tileNEON is the kernel.tile of neonKernel, on the first elements of a,
// b and c. It computes
//
//	for i := range 8 {
//		for j := range 12 {
//			var s float32
//			for p := range k {
//				s += a[i*rs+p*cs] * b[p*bs+j]
//			}
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j] // beta 0: alpha*s
//		}
//	}
//
//go:noescape
func tileNEON(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)

// convertNEON writes dst[i] = float32 of the half-precision bits src[i] for
// i < n, a multiple of 8, with FCVTL.
//
//go:noescape
func convertNEON(dst *float32, src *uint16, n int)

// peakNEON runs n iterations of 24 independent FMLAs.
//
//go:noescape
func peakNEON(n int)
