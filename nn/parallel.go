package nn

import (
	"sync"

	"github.com/sdgo/sdgo/internal/gemm"
)

// SetThreads bounds the goroutines that sdgo's math uses (matrix products
// included); n ≤ 0 means one per CPU.
func SetThreads(n int) { gemm.SetThreads(n) }

// Threads reports the bound set by SetThreads.
func Threads() int { return gemm.Threads() }

// Parallel calls fn(lo, hi) over [0, n) split into at most Threads() contiguous
// ranges, in parallel, and returns when all are done. Ranges never split
// below minChunk items, so small jobs run inline, and every range but the
// last holds a multiple of minChunk items. An elementwise loop whose vector
// kernel takes blocks of 8 or 16 values, leaving the rest to a scalar loop,
// passes a minChunk that is a multiple of 16: then every value is computed by
// the same code, and rounded the same way, however many threads run.
func Parallel(n, minChunk int, fn func(lo, hi int)) {
	if minChunk < 1 {
		minChunk = 1
	}
	workers := min(Threads(), (n+minChunk-1)/minChunk)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	chunk = (chunk + minChunk - 1) / minChunk * minChunk
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
