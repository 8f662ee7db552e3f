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
// below minChunk items, so small jobs run inline.
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
