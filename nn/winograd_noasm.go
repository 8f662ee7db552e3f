//go:build !amd64 || noasm

package nn

func winoInF4AVX2(dst *float32, ds int, src *float32, ss int, n int)  { panic("nn: no AVX2") }
func winoOutF4AVX2(dst *float32, ds int, src *float32, ss int, n int) { panic("nn: no AVX2") }
func winoInF2AVX2(dst *float32, ds int, src *float32, ss int, n int)  { panic("nn: no AVX2") }
func winoOutF2AVX2(dst *float32, ds int, src *float32, ss int, n int) { panic("nn: no AVX2") }
func winoGF4AVX2(dst *float32, ds int, src *float32, ss int, n int)   { panic("nn: no AVX2") }
func winoGF2AVX2(dst *float32, ds int, src *float32, ss int, n int)   { panic("nn: no AVX2") }
