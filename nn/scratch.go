package nn

import (
	"math/bits"
	"sync"
)

// Scratch buffers for the temporaries of one operation (im2col bands, padded
// copies, repacked weights): reusing them spares the allocator and, above
// all, the page faults of touching fresh memory on every call.
//
// Buffers are pooled by power-of-two capacity; getScratch returns one of at
// least n values, with arbitrary contents.

var scratch [48]sync.Pool

func getScratch(n int) []float32 {
	if n == 0 {
		return nil
	}
	class := bits.Len(uint(n - 1)) // capacity 1<<class ≥ n
	if p, ok := scratch[class].Get().(*[]float32); ok {
		return (*p)[:n]
	}
	return make([]float32, n, 1<<class)
}

func putScratch(s []float32) {
	c := cap(s)
	if c == 0 || c&(c-1) != 0 {
		return // not from getScratch
	}
	s = s[:c]
	scratch[bits.Len(uint(c-1))].Put(&s)
}
