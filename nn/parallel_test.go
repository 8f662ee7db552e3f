package nn

import (
	"slices"
	"sync"
	"testing"
)

// Parallel's ranges cover [0, n) once, and every range but the last holds a
// multiple of minChunk items, whatever the thread count: so a vector kernel
// run over each range meets the same blocks of values as over the whole.
func TestParallel(t *testing.T) {
	defer SetThreads(Threads())
	for _, tc := range []struct{ n, minChunk int }{
		{0, 1}, {1, 1}, {7, 1}, {100, 16}, {1000, 16}, {20000, 1 << 14}, {50000, 1 << 14}, {5, 8}, {33, 8},
	} {
		for _, threads := range []int{1, 2, 3, 5, 8} {
			SetThreads(threads)
			var mu sync.Mutex
			var ranges [][2]int
			Parallel(tc.n, tc.minChunk, func(lo, hi int) {
				mu.Lock()
				ranges = append(ranges, [2]int{lo, hi})
				mu.Unlock()
			})
			slices.SortFunc(ranges, func(a, b [2]int) int { return a[0] - b[0] })
			if len(ranges) > threads {
				t.Errorf("n %d, minChunk %d, %d threads: %d ranges", tc.n, tc.minChunk, threads, len(ranges))
			}
			next := 0
			for i, r := range ranges {
				if r[0] != next || r[1] <= r[0] {
					t.Fatalf("n %d, minChunk %d, %d threads: ranges %v do not tile [0, n)", tc.n, tc.minChunk, threads, ranges)
				}
				if i < len(ranges)-1 && (r[1]-r[0])%tc.minChunk != 0 {
					t.Errorf("n %d, minChunk %d, %d threads: range %v is not a multiple of minChunk", tc.n, tc.minChunk, threads, r)
				}
				next = r[1]
			}
			if next != tc.n {
				t.Errorf("n %d, minChunk %d, %d threads: ranges %v end at %d", tc.n, tc.minChunk, threads, ranges, next)
			}
		}
	}
}
