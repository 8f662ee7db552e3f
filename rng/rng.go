package rng

// Source is a stream of standard normal noise.
//
// Normal fills dst with N(0, 1) samples exactly as the generator it mirrors
// would for a tensor of len(dst) elements (the tensor's flat, row-major
// order), and advances the state as that single call does. How many elements
// are requested at once matters: one call for 32 values is not the same
// as two calls for 16.
type Source interface {
	Normal(dst []float32)
}

var (
	_ Source = (*TorchCPU)(nil)
	_ Source = (*Philox)(nil)
)
