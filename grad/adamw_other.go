//go:build !amd64 || noasm

package grad

const hasAVX2 = false

func adamwAVX2(theta, gr, m, v *float32, n int, k *adamwFactors) { panic("grad: no AVX2") }
