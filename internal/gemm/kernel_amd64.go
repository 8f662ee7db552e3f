//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = cpu.X86.HasAVX512F
)

func init() {
	if cpu.X86.HasF16C {
		avx2Kernel.convert = convertWith(convertF16C, 8)
		avx2Kernel.transposeA16 = func(src []uint16, lds int, dst []float32, ldd int) {
			_, _ = src[5*lds+15], dst[15*6+5] // the assembly stays in bounds
			pack6F16(&src[0], lds, &dst[0], ldd)
		}
	}
}

// bestPath is the fastest path this CPU runs.
func bestPath() path {
	switch {
	case hasAVX512:
		return pathAVX512
	case hasAVX2:
		return pathAVX2
	}
	return pathGonum
}

// kernelFor returns the micro-kernel of path p.
func kernelFor(p path) *kernel {
	switch p {
	case pathAVX512:
		return &avx512Kernel
	case pathAVX2:
		return &avx2Kernel
	}
	return &goKernel
}

// paths lists the paths this build can run on this CPU, for tests.
func paths() []path {
	ps := []path{pathGo, pathGonum}
	if hasAVX2 {
		ps = append(ps, pathAVX2)
	}
	if hasAVX512 {
		ps = append(ps, pathAVX512)
	}
	return ps
}

// avx2Kernel computes 6×16 tiles with AVX2 and FMA, and 6×8 tiles for a
// last column panel of at most 8 (attention's P·V with heads of 40: 16, 16
// and 8 columns).
var avx2Kernel = kernel{mr: 6, nr: 16, kc: 256, mc: 144, nc: 2048,
	stridedB: true,
	tile: func(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
		_, _, _ = a[5*rs+(k-1)*cs], b[(k-1)*bs+15], c[5*ldc+15] // the assembly stays in bounds
		tileAVX2(k, &a[0], rs, cs, &b[0], bs, &c[0], ldc, alpha, beta)
	},
	narrow: func(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
		_, _, _ = a[5*rs+(k-1)*cs], b[(k-1)*bs+7], c[5*ldc+7] // the assembly stays in bounds
		tileAVX2N(k, &a[0], rs, cs, &b[0], bs, &c[0], ldc, alpha, beta)
	},
	transposes: []transposer{{8, transposeAVX}},
	transposeA: func(src []float32, lds int, dst []float32, ldd int) {
		_, _ = src[5*lds+15], dst[15*6+5] // the assembly stays in bounds
		pack6(&src[0], lds, &dst[0], ldd)
	},
	convert: convertGo, // F16C's if the CPU has it (init)
}

// avx512Kernel computes 12×32 tiles with AVX-512, and 12×16 tiles for a
// last column panel of at most 16. Its blocks suit Zen 5 (48 KiB L1d, 1 MiB
// L2 per core): a B panel of 256 steps (32 KiB) stays in L1, 192 rows of A
// by 256 steps (192 KiB) in L2, and the 2 MiB of packed B in L3. Other
// choices from kc 128 to 512 and mc 48 to 384 measured within noise.
var avx512Kernel = kernel{mr: 12, nr: 32, kc: 256, mc: 192, nc: 2048,
	stridedB: true,
	tile: func(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
		_, _, _ = a[11*rs+(k-1)*cs], b[(k-1)*bs+31], c[11*ldc+31] // the assembly stays in bounds
		tileAVX512(k, &a[0], rs, cs, &b[0], bs, &c[0], ldc, alpha, beta)
	},
	narrow: func(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
		_, _, _ = a[11*rs+(k-1)*cs], b[(k-1)*bs+15], c[11*ldc+15] // the assembly stays in bounds
		tileAVX512N(k, &a[0], rs, cs, &b[0], bs, &c[0], ldc, alpha, beta)
	},
	transposes: []transposer{{16, transposeAVX512}, {8, transposeAVX}},
	transposeA: func(src []float32, lds int, dst []float32, ldd int) {
		_, _ = src[11*lds+15], dst[15*ldd+11] // the assembly stays in bounds
		transpose12(&src[0], lds, &dst[0], ldd)
	},
	convert: convertWith(convertAVX512, 16),
}

// transposeAVX512 is transpose16 on slices.
func transposeAVX512(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[15*lds+15], dst[15*ldd+15] // the assembly stays in bounds
	transpose16(&src[0], lds, &dst[0], ldd)
}

// transposeAVX is transpose8 on slices.
func transposeAVX(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[7*lds+7], dst[7*ldd+7] // the assembly stays in bounds
	transpose8(&src[0], lds, &dst[0], ldd)
}

// tileAVX2 is the kernel.tile of avx2Kernel, on the first elements of a,
// b and c. It computes
//
//	for i := range 6 {
//		for j := range 16 {
//			var s float32
//			for p := range k {
//				s += a[i*rs+p*cs] * b[p*bs+j]
//			}
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j] // beta 0: alpha*s
//		}
//	}
//
//go:noescape
func tileAVX2(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)

// tileAVX2N is the narrow kernel.tile of avx2Kernel, on 6×8 tiles.
//
//go:noescape
func tileAVX2N(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)

// tileAVX512 is the kernel.tile of avx512Kernel on the first elements of a,
// b and c. It computes
//
//	for i := range 12 {
//		for j := range 32 {
//			var s float32
//			for p := range k {
//				s += a[i*rs+p*cs] * b[p*bs+j]
//			}
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j] // beta 0: alpha*s
//		}
//	}
//
//go:noescape
func tileAVX512(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)

// tileAVX512N is the narrow kernel.tile of avx512Kernel, on 12×16 tiles.
//
//go:noescape
func tileAVX512N(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)

// transpose16 writes dst[j*ldd+i] = src[i*lds+j] for i, j < 16.
//
//go:noescape
func transpose16(src *float32, lds int, dst *float32, ldd int)

// transpose12 writes dst[j*ldd+i] = src[i*lds+j] for i < 12, j < 16.
//
//go:noescape
func transpose12(src *float32, lds int, dst *float32, ldd int)

// transpose8 writes dst[j*ldd+i] = src[i*lds+j] for i, j < 8.
//
//go:noescape
func transpose8(src *float32, lds int, dst *float32, ldd int)

// pack6 is the transposeA of avx2Kernel on the first elements of src and
// dst: dst[j*6+i] = src[i*lds+j] for i < 6, j < 16. ldd must be 6 (the
// packed steps are contiguous).
//
//go:noescape
func pack6(src *float32, lds int, dst *float32, ldd int)

// pack6F16 is pack6 on half-precision bits, converted with F16C.
//
//go:noescape
func pack6F16(src *uint16, lds int, dst *float32, ldd int)

// convertAVX512 writes dst[i] = float32 of the half-precision bits src[i]
// for i < n, a multiple of 16.
//
//go:noescape
func convertAVX512(dst *float32, src *uint16, n int)

// convertF16C is convertAVX512 with F16C, for n a multiple of 8.
//
//go:noescape
func convertF16C(dst *float32, src *uint16, n int)
