package gemm

import (
	"runtime"
	"sync"
	"time"
)

// peakStep returns the loop that measures the fp32 FMA peak with the
// instructions of path p, and the floating-point operations of one of its
// iterations (2 per lane of each multiply-add). Each loop keeps more
// independent multiply-add chains in flight than latency × FMA pipes of
// current cores (Zen 4 and Intel: 4 cycles × 2 pipes; Apple M: 4 × 4), so
// it is bound by FMA throughput alone.
func peakStep(p path) (loop func(n int), flops float64) {
	if loop, flops := peakAsm(p); loop != nil {
		return loop, flops
	}
	return peakGo, 2 * 16
}

// peakSink keeps the pure-Go loop's results alive.
var peakSink float32

// peakGo is the peak loop of the pure-Go path: 16 independent scalar chains
// of x = x·a + b, as the Go micro-kernel computes (the compiler emits a
// multiply and an add, or one FMA where GOAMD64/GOARM64 allow it).
func peakGo(n int) {
	var x0, x1, x2, x3, x4, x5, x6, x7 float32 = 1, 2, 3, 4, 5, 6, 7, 8
	var y0, y1, y2, y3, y4, y5, y6, y7 float32 = 1, 2, 3, 4, 5, 6, 7, 8
	a, b := float32(0.999), float32(1e-3)
	for range n {
		x0, x1, x2, x3 = x0*a+b, x1*a+b, x2*a+b, x3*a+b
		x4, x5, x6, x7 = x4*a+b, x5*a+b, x6*a+b, x7*a+b
		y0, y1, y2, y3 = y0*a+b, y1*a+b, y2*a+b, y3*a+b
		y4, y5, y6, y7 = y4*a+b, y5*a+b, y6*a+b, y7*a+b
	}
	peakSink += x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + y0 + y1 + y2 + y3 + y4 + y5 + y6 + y7
}

// Peak measures this CPU's fp32 multiply-add peak, in GFLOP/s, with the
// instructions of the active path's micro-kernel (AVX-512 or AVX2 FMA on
// 512- or 256-bit registers, NEON's FMLA, or the scalar Go loop): threads
// goroutines, each locked to its own OS thread, run a loop of independent FMA
// chains on registers alone for about d, and Peak returns the best rate of
// a few such rounds (on a shared machine the best round is the one least
// disturbed). threads <= 0 means Threads().
//
// It is the ceiling the products can approach: the micro-kernels issue the
// same instructions, plus loads.
func Peak(threads int, d time.Duration) float64 {
	if threads <= 0 {
		threads = Threads()
	}
	loop, perIter := peakStep(active)
	// Calibrate: iterations per round of about d/rounds on one thread.
	const rounds = 5
	n := 1 << 12
	for {
		start := time.Now()
		loop(n)
		if el := time.Since(start); el > time.Millisecond || n > 1<<30 {
			n = int(float64(n) * float64(d/rounds) / float64(el))
			break
		}
		n *= 4
	}
	n = max(n, 1<<10)
	best := 0.0
	for range rounds {
		var wg sync.WaitGroup
		start := time.Now()
		for range threads {
			wg.Go(func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				loop(n)
			})
		}
		wg.Wait()
		rate := float64(threads) * float64(n) * perIter / time.Since(start).Seconds() / 1e9
		best = max(best, rate)
	}
	return best
}

// PeakCore is the fp32 multiply-add peak of one core, in GFLOP/s, measured
// as Peak measures it but by the CPU time of the thread that runs the loop
// (on Linux; elsewhere by the clock): time the scheduler gives to other
// programs does not count, so on a machine others share it still gives the
// core's own rate, and a rate per CPU-second divided by it is the share of
// peak per core actually obtained.
func PeakCore(d time.Duration) float64 {
	loop, perIter := peakStep(active)
	const rounds = 5
	best := 0.0
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		n := 1 << 12
		for {
			start := time.Now()
			loop(n)
			if el := time.Since(start); el > time.Millisecond || n > 1<<30 {
				n = max(1<<10, int(float64(n)*float64(d/rounds)/float64(el)))
				break
			}
			n *= 4
		}
		for range rounds {
			c0, ok := threadCPU()
			start := time.Now()
			loop(n)
			el := time.Since(start)
			if c1, ok1 := threadCPU(); ok && ok1 && c1 > c0 {
				el = min(el, c1-c0)
			}
			best = max(best, float64(n)*perIter/el.Seconds()/1e9)
		}
	}()
	<-done
	return best
}
