//go:build !noasm

package grad

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether adamwAVX2 runs here.
var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func adamwAVX2(theta, gr, m, v *float32, n int, k *adamwFactors)
