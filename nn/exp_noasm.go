//go:build !amd64 || noasm

package nn

const hasAVX2 = false

func expSubAVX2(p *float32, n int, m float32) float32 { panic("nn: no AVX2") }

func siluAVX2(dst, src *float32, n int, scale, shift float32) { panic("nn: no AVX2") }

func maxAVX2(p *float32, n int) float32 { panic("nn: no AVX2") }
