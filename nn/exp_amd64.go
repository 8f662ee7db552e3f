//go:build !noasm

package nn

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether the AVX2 and FMA kernels of exp_amd64.s run here;
// hasF16C whether halfToFloatF16C does.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F
	hasF16C   = cpu.X86.HasAVX && cpu.X86.HasF16C
)

// The kernels process n values, n a multiple of 8; see their Go twins in
// simd.go for the reference loops.

//go:noescape
func expSubAVX2(p *float32, n int, m float32) float32

//go:noescape
func siluAVX2(dst, src *float32, n int, scale, shift float32)

//go:noescape
func siluGradAVX2(dx, dy, x *float32, n int) int

//go:noescape
func gegluGradAVX2(dval, dgate, val, gate, dy *float32, n int) int

//go:noescape
func quickGELUAVX2(dst, src *float32, n int) int

//go:noescape
func quickGELUGradAVX2(dx, dy, x *float32, n int) int

//go:noescape
func addAVX2(dst, src *float32, n int)

//go:noescape
func maxAVX2(p *float32, n int) float32

//go:noescape
func halfToFloatF16C(dst *float32, src *uint16, n int)

//go:noescape
func gegluAVX2(dst, val, gate *float32, n int)

//go:noescape
func geluAVX2(dst, src *float32, n int)

//go:noescape
func affineAVX2(dst, src *float32, n int, scale, shift float32)

//go:noescape
func sumsAVX2(p *float32, n int, m float32) (sum, sq float32)

//go:noescape
func expSubAVX512(p *float32, n int, m float32) float32
