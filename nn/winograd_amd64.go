//go:build !noasm

package nn

// Winograd's 1-D transforms in winograd_amd64.s: n lanes (a multiple of 8),
// input vector i at src[i·ss:], output vector r at dst[r·ds:].

//go:noescape
func winoInF4AVX2(dst *float32, ds int, src *float32, ss int, n int)

//go:noescape
func winoOutF4AVX2(dst *float32, ds int, src *float32, ss int, n int)

//go:noescape
func winoInF2AVX2(dst *float32, ds int, src *float32, ss int, n int)

//go:noescape
func winoOutF2AVX2(dst *float32, ds int, src *float32, ss int, n int)

//go:noescape
func winoGF4AVX2(dst *float32, ds int, src *float32, ss int, n int)

//go:noescape
func winoGF2AVX2(dst *float32, ds int, src *float32, ss int, n int)
