//go:build !noasm

package gemm

// peakAsm returns the assembly peak loop of path p and the floating-point
// operations of one iteration, or nil for a path without one.
func peakAsm(p path) (loop func(n int), flops float64) {
	switch p {
	case pathAVX512:
		return func(n int) { peakAVX512(n) }, 2 * 16 * 16 // 16 FMAs of 16 lanes
	case pathAVX2:
		return func(n int) { peakAVX2(n) }, 2 * 12 * 8 // 12 FMAs of 8 lanes
	}
	return nil, 0
}

// peakAVX512 runs n iterations of 16 independent 512-bit FMAs.
//
//go:noescape
func peakAVX512(n int)

// peakAVX2 runs n iterations of 12 independent 256-bit FMAs.
//
//go:noescape
func peakAVX2(n int)
