//go:build !noasm

package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/x448/float16"
)

// tuneVariant is a change to the active kernel that TestTune measures
// beside it: setup applies it and returns what undoes it.
type tuneVariant struct {
	name  string
	setup func() func()
}

// avx2Variants take back, one at a time, the AVX2 kernel's packing of A
// (pack6, pack6F16) and its narrow 6×8 kernel.
var avx2Variants = []tuneVariant{
	{"A unpacked", func() func() {
		old, old16 := avx2Kernel.transposeA, avx2Kernel.transposeA16
		avx2Kernel.transposeA, avx2Kernel.transposeA16 = nil, nil
		return func() { avx2Kernel.transposeA, avx2Kernel.transposeA16 = old, old16 }
	}},
	{"no narrow", func() func() {
		old := avx2Kernel.narrow
		avx2Kernel.narrow = nil
		return func() { avx2Kernel.narrow = old }
	}},
}

// TestTune measures the products of benchShapes whose names SDGO_TUNE
// holds ("all": every one) on one thread against one core's peak, as the
// best thread CPU time of a product over interleaved rounds, which other
// programs on a shared machine disturb least; on AVX2 beside avx2Variants.
//
//	SDGO_TUNE='square1024 flashQKt96x512x40' go test ./internal/gemm -run TestTune -v
func TestTune(t *testing.T) {
	if os.Getenv("SDGO_TUNE") == "" {
		t.Skip("SDGO_TUNE not set")
	}
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	use(t, pathAVX2)
	SetThreads(1)
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(1, 1))
	filter := os.Getenv("SDGO_TUNE")
	vs := append([]tuneVariant{{"avx2", func() func() { return func() {} }}}, avx2Variants...)
	rounds := 15
	shapes := append(benchShapes[:len(benchShapes):len(benchShapes)], struct {
		name           string
		m, n, k        int
		transA, transB bool
		ld             int
	}{"flashQKt96x512x40", 96, 512, 40, false, false, -1}) // q·kᵀ with kᵀ transposed once (nn.Attention)
	for _, s := range shapes {
		if filter != "all" && !strings.Contains(filter, s.name) {
			continue
		}
		for _, f16 := range []bool{false, true} {
			if f16 && (s.transA || s.transB || s.ld != 0) {
				continue
			}
			lda, ldb, ldc := s.k, s.n, s.n
			if s.transB {
				ldb = s.k
			}
			if s.ld < 0 {
				lda, ldb, ldc = 320, 4112, s.n
			} else if s.ld > 0 && s.transB {
				lda, ldb = s.ld, s.ld
			} else if s.ld > 0 {
				ldb, ldc = s.ld, s.ld
			}
			a := random(rng, s.m*lda)
			a16 := make([]uint16, len(a))
			for i := range a16 {
				a16[i] = float16.Fromfloat32(a[i]).Bits()
			}
			bm := random(rng, s.k*ldb)
			if s.transB {
				bm = random(rng, s.n*ldb)
			}
			c := make([]float32, s.m*ldc)
			best := make([]time.Duration, len(vs))
			for range rounds {
				for i, v := range vs {
					restore := v.setup()
					done := make(chan time.Duration)
					go func() {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						c0, _ := threadCPU()
						for range 2 {
							if f16 {
								SgemmF16A(false, false, s.m, s.n, s.k, 1, a16, lda, bm, ldb, 0, c, ldc)
							} else {
								Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, ldc)
							}
						}
						c1, _ := threadCPU()
						done <- (c1 - c0) / 2
					}()
					d := <-done
					restore()
					if best[i] == 0 || d < best[i] {
						best[i] = d
					}
				}
			}
			peak := PeakCore(200 * time.Millisecond)
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
			line := fmt.Sprintf("%-22s f16=%-5v peak %.1f:", s.name, f16, peak)
			for i, v := range vs {
				g := flops / best[i].Seconds() / 1e9
				line += fmt.Sprintf("  %s %.1f (%.0f%%)", v.name, g, 100*g/peak)
			}
			t.Log(line)
		}
	}
}

// TestTuneTile measures the AVX2 micro-kernel alone on operands in the L1
// cache, by thread CPU time, against one core's peak: its ceiling.
func TestTuneTile(t *testing.T) {
	if os.Getenv("SDGO_TUNE") == "" {
		t.Skip("SDGO_TUNE not set")
	}
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(2, 2))
	kern := kernelFor(pathAVX2)
	for _, k := range []int{40, 128, 256, 512} {
		a := random(rng, kern.mr*k)
		bp := random(rng, kern.nr*k)
		c := make([]float32, kern.mr*kern.nr)
		best := time.Duration(0)
		const reps = 2000
		for range 20 {
			done := make(chan time.Duration)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				c0, _ := threadCPU()
				for range reps {
					kern.tile(k, a, 1, kern.mr, bp, kern.nr, c, kern.nr, 1, 0)
				}
				c1, _ := threadCPU()
				done <- c1 - c0
			}()
			d := <-done
			if best == 0 || d < best {
				best = d
			}
		}
		peak := PeakCore(200 * time.Millisecond)
		g := 2 * float64(kern.mr*kern.nr*k*reps) / best.Seconds() / 1e9
		t.Logf("tile k=%d: %.1f GFLOP/s per CPU-s, %.0f%% of %.1f", k, g, 100*g/peak, peak)
	}
}
