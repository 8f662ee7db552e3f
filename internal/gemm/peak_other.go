//go:build !(amd64 || arm64) || noasm

package gemm

// peakAsm returns nil: this build has no assembly peak loop.
func peakAsm(p path) (loop func(n int), flops float64) { return nil, 0 }
