//go:build !amd64 || noasm

package nn

const (
	hasAVX2   = false
	hasAVX512 = false
	hasF16C   = false
)

func expSubAVX2(p *float32, n int, m float32) float32 { panic("nn: no AVX2") }

func siluAVX2(dst, src *float32, n int, scale, shift float32) { panic("nn: no AVX2") }

func siluGradAVX2(dx, dy, x *float32, n int) int { panic("nn: no AVX2") }

func gegluGradAVX2(dval, dgate, val, gate, dy *float32, n int) int { panic("nn: no AVX2") }

func quickGELUAVX2(dst, src *float32, n int) int { panic("nn: no AVX2") }

func quickGELUGradAVX2(dx, dy, x *float32, n int) int { panic("nn: no AVX2") }

func addAVX2(dst, src *float32, n int) { panic("nn: no AVX2") }

func maxAVX2(p *float32, n int) float32 { panic("nn: no AVX2") }

func halfToFloatF16C(dst *float32, src *uint16, n int) { panic("nn: no F16C") }

func gegluAVX2(dst, val, gate *float32, n int) { panic("nn: no AVX2") }

func geluAVX2(dst, src *float32, n int) { panic("nn: no AVX2") }

func affineAVX2(dst, src *float32, n int, scale, shift float32) { panic("nn: no AVX2") }

func sumsAVX2(p *float32, n int, m float32) (sum, sq float32) { panic("nn: no AVX2") }

func expSubAVX512(p *float32, n int, m float32) float32 { panic("nn: no AVX-512") }
