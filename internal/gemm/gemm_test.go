package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/x448/float16"
)

// use makes p the active path until the test ends.
func use(tb testing.TB, p path) {
	old := active
	active = p
	tb.Cleanup(func() { active = old })
}

// problem is one Sgemm call with its operands.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra columns in every stride
	a, b, c        []float32
	lda, ldb, ldc  int
}

// newProblem fills A, B and C with values in [-1, 1); the padding of C holds
// a sentinel so tests can check that Sgemm leaves it alone. With beta 0, C is
// NaN, which Sgemm must overwrite, not scale.
func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, pad: pad}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = ac+pad, bc+pad, n+pad
	p.a = random(rng, ar*p.lda)
	p.b = random(rng, br*p.ldb)
	p.c = random(rng, m*p.ldc)
	for i := range m {
		for j := range p.ldc {
			switch {
			case j >= n:
				p.c[i*p.ldc+j] = sentinel
			case beta == 0:
				p.c[i*p.ldc+j] = float32(math.NaN())
			}
		}
	}
	return p
}

const sentinel = 12345

func random(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*rng.Float32() - 1
	}
	return s
}

// run calls Sgemm on a copy of C and returns it.
func (p *problem) run() []float32 {
	c := append([]float32(nil), p.c...)
	Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// reference returns C computed in float64, and for each element the bound
// |alpha|·Σ|a||b| + |beta·c| that scales its rounding error.
func (p *problem) reference() (want, bound []float64) {
	want = make([]float64, p.m*p.n)
	bound = make([]float64, p.m*p.n)
	for i := range p.m {
		for j := range p.n {
			var s, abs float64
			for q := range p.k {
				var av float32
				if p.transA {
					av = p.a[q*p.lda+i]
				} else {
					av = p.a[i*p.lda+q]
				}
				var bv float32
				if p.transB {
					bv = p.b[j*p.ldb+q]
				} else {
					bv = p.b[q*p.ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			w := float64(p.alpha) * s
			bd := math.Abs(float64(p.alpha)) * abs
			if p.beta != 0 {
				w += float64(p.beta) * float64(p.c[i*p.ldc+j])
				bd += math.Abs(float64(p.beta) * float64(p.c[i*p.ldc+j]))
			}
			want[i*p.n+j], bound[i*p.n+j] = w, bd
		}
	}
	return want, bound
}

// compare checks every element of got against the float64 reference and the
// padding of C against the sentinel. It returns the largest absolute error
// and the largest error relative to the element's bound.
func (p *problem) compare(got []float32) (maxAbs, maxRel float64, err error) {
	want, bound := p.reference()
	for i := range p.m {
		for j := range p.ldc {
			g := got[i*p.ldc+j]
			if j >= p.n {
				if g != sentinel {
					return 0, 0, fmt.Errorf("C[%d][%d] = %v in the padding, want it untouched", i, j, g)
				}
				continue
			}
			w, bd := want[i*p.n+j], bound[i*p.n+j]
			d := math.Abs(float64(g) - w)
			if math.IsNaN(d) {
				return 0, 0, fmt.Errorf("C[%d][%d] = %v, want %v", i, j, g, w)
			}
			maxAbs = max(maxAbs, d)
			if bd > 0 {
				maxRel = max(maxRel, d/bd)
			}
		}
	}
	return maxAbs, maxRel, nil
}

// tolerance bounds the error relative to |alpha|·Σ|a||b| + |beta·c|.
const tolerance = 1e-5

var shapes = []struct{ m, n, k int }{
	{1, 1, 1}, {1, 1, 17}, {1, 33, 1}, {33, 1, 1}, {1, 65, 127}, {127, 1, 65}, {65, 127, 1},
	{2, 3, 5}, {7, 11, 13}, {17, 17, 17}, {33, 33, 33}, {65, 65, 65}, {13, 255, 31},
	{127, 33, 255}, {255, 17, 65}, {37, 127, 300}, {300, 257, 129}, {129, 301, 67},
	{37, 515, 45}, {200, 1030, 41}, // A packed on AVX-512 (n ≥ packAMinN)
}

var scalars = []struct{ alpha, beta float32 }{{1, 0}, {0.5, -1.5}, {-2, 1}, {1, 1}, {0.25, 0}}

func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, pa := range paths() {
		use(t, pa)
		var worstAbs, worstRel float64
		threadCounts := []int{1, 2, 3}
		if testing.Short() {
			threadCounts = []int{2} // under emulation (.ci/run's arm64 tests): one split
		}
		for _, threads := range threadCounts {
			SetThreads(threads)
			for si, s := range shapes {
				for tr := range 4 {
					transA, transB := tr&1 != 0, tr&2 != 0
					sc := scalars[(si+tr+threads)%len(scalars)]
					pad := (si + tr) % 3 * 5
					name := fmt.Sprintf("%s/threads=%d/%dx%dx%d/tA=%v/tB=%v/alpha=%v/beta=%v/pad=%d",
						pa, threads, s.m, s.n, s.k, transA, transB, sc.alpha, sc.beta, pad)
					p := newProblem(rng, transA, transB, s.m, s.n, s.k, pad, sc.alpha, sc.beta)
					maxAbs, maxRel, err := p.compare(p.run())
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if maxRel > tolerance {
						t.Errorf("%s: max abs error %.3g, max relative error %.3g > %g", name, maxAbs, maxRel, tolerance)
					}
					worstAbs, worstRel = max(worstAbs, maxAbs), max(worstRel, maxRel)
				}
			}
		}
		SetThreads(0)
		t.Logf("%-6s all shapes: max abs error %.3g, max relative error %.3g", pa, worstAbs, worstRel)
	}
}

// TestSgemmErrors reports the largest errors of each path on the largest
// shape, so a run with -v shows them: absolute, relative to the largest |C|,
// and relative to each element's bound |alpha|·Σ|a||b| + |beta·c|.
func TestSgemmErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := newProblem(rng, false, true, 300, 257, 129, 3, 1, 0)
	want, _ := p.reference()
	var maxWant float64
	for _, w := range want {
		maxWant = max(maxWant, math.Abs(w))
	}
	for _, pa := range paths() {
		use(t, pa)
		maxAbs, maxRel, err := p.compare(p.run())
		if err != nil {
			t.Fatalf("%s: %v", pa, err)
		}
		t.Logf("%-6s 300×257×129: max abs error %.3g, relative to max |C| %.3g, to the bound %.3g",
			pa, maxAbs, maxAbs/maxWant, maxRel)
	}
}

func TestNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range shapes[:10] {
		p := newProblem(rng, true, false, s.m, s.n, s.k, 2, 0.5, -1)
		c := append([]float32(nil), p.c...)
		naive(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
		if _, maxRel, err := p.compare(c); err != nil || maxRel > tolerance {
			t.Errorf("%dx%dx%d: max relative error %.3g, %v", s.m, s.n, s.k, maxRel, err)
		}
	}
}

// TestSgemmQuick covers the calls that return before any kernel runs.
func TestSgemmQuick(t *testing.T) {
	c := []float32{1, 2, float32(math.NaN()), 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	for i, v := range c {
		if v != 0 {
			t.Errorf("k=0, beta=0: C[%d] = %v, want 0", i, v)
		}
	}
	c = []float32{1, 2, 3, 4}
	a := []float32{float32(math.NaN()), 1}
	Sgemm(false, false, 2, 2, 1, 0, a, 1, []float32{1, 1}, 2, 2, c, 2)
	for i, v := range c {
		if want := float32(2 * (i + 1)); v != want {
			t.Errorf("alpha=0, beta=2: C[%d] = %v, want %v", i, v, want)
		}
	}
	Sgemm(false, false, 0, 5, 5, 1, nil, 5, nil, 5, 0, nil, 5)
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 6)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{"short lda", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }},
		{"short ldb", func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{"short ldc", func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, a, 2, 0, a, 1) }},
		{"short a", func() { Sgemm(false, false, 3, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{"short c", func() { Sgemm(false, false, 2, 4, 1, 1, a, 1, a, 4, 0, a, 4) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.call()
		}()
	}
}

// TestThreadsSameBits checks that every path gives the same bits on any
// number of threads, on shapes whose parts and column blocks fall
// differently with each count (and so put the narrow kernels, where there
// are some, on different columns).
func TestThreadsSameBits(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, pa := range paths() {
		if pa == pathGonum {
			continue // gonum's own parallel code: not ours to pin down
		}
		use(t, pa)
		for _, s := range []struct{ m, n, k int }{{300, 1030, 129}, {1030, 41, 300}, {64, 4200, 64}, {200, 1000, 300}} {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				p := newProblem(rng, transA, transB, s.m, s.n, s.k, 0, 1, 0)
				var want []float32
				for _, threads := range []int{1, 2, 3} {
					SetThreads(threads)
					got := p.run()
					if want == nil {
						want = got
						continue
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %dx%dx%d tA=%v tB=%v: C[%d] = %v on %d threads, %v on one", pa, s.m, s.n, s.k, transA, transB, i, got[i], threads, want[i])
						}
					}
				}
			}
		}
	}
}

func TestThreads(t *testing.T) {
	defer SetThreads(0)
	SetThreads(3)
	if got := Threads(); got != 3 {
		t.Errorf("Threads() = %d after SetThreads(3)", got)
	}
	SetThreads(0)
	if got := Threads(); got < 1 {
		t.Errorf("Threads() = %d after SetThreads(0), want GOMAXPROCS", got)
	}
}

// FuzzSgemm compares every path with the naive loop on small random shapes.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint64(1))
	f.Add(uint8(17), uint8(33), uint8(1), uint8(3), uint64(2))
	f.Add(uint8(13), uint8(40), uint8(64), uint8(6), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 7))
		transA, transB := flags&1 != 0, flags&2 != 0
		pad := int(flags>>2) % 4
		sc := scalars[int(flags>>4)%len(scalars)]
		p := newProblem(rng, transA, transB, int(m%80)+1, int(n%80)+1, int(k%80)+1, pad, sc.alpha, sc.beta)
		want := append([]float32(nil), p.c...)
		naive(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, want, p.ldc)
		for _, pa := range paths() {
			use(t, pa)
			got := p.run()
			for i, g := range got {
				w := want[i]
				if d := math.Abs(float64(g - w)); !(d <= 1e-4*(1+math.Abs(float64(w)))) {
					t.Fatalf("%s %dx%dx%d tA=%v tB=%v alpha=%v beta=%v pad=%d: C[%d] = %v, naive %v",
						pa, p.m, p.n, p.k, p.transA, p.transB, p.alpha, p.beta, p.pad, i, g, w)
				}
			}
		}
	})
}

func TestTranspose(t *testing.T) {
	for _, p := range paths() {
		kern := kernelFor(p)
		if p == pathGonum {
			continue
		}
		if kern.transposeA != nil {
			src := make([]float32, kern.mr*21)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, 16*kern.mr)
			kern.transposeA(src, 21, dst, kern.mr)
			for i := range kern.mr {
				for j := range 16 {
					if got, want := dst[j*kern.mr+i], src[i*21+j]; got != want {
						t.Fatalf("%s: transposeA: dst[%d][%d] = %v, want %v", p, j, i, got, want)
					}
				}
			}
		}
		if kern.transposeA16 != nil {
			src := make([]uint16, kern.mr*21)
			for i := range src {
				src[i] = float16.Fromfloat32(float32(i) - 40.5).Bits() // exact in half precision
			}
			dst := make([]float32, 16*kern.mr)
			kern.transposeA16(src, 21, dst, kern.mr)
			for i := range kern.mr {
				for j := range 16 {
					if got, want := dst[j*kern.mr+i], float32(i*21+j)-40.5; got != want {
						t.Fatalf("%s: transposeA16: dst[%d][%d] = %v, want %v", p, j, i, got, want)
					}
				}
			}
		}
		for _, tr := range kern.transposes {
			src := make([]float32, tr.w*21)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, tr.w*19)
			tr.fn(src, 21, dst, 19)
			for i := range tr.w {
				for j := range tr.w {
					if got, want := dst[j*19+i], src[i*21+j]; got != want {
						t.Fatalf("%s: transpose %d: dst[%d][%d] = %v, want %v", p, tr.w, j, i, got, want)
					}
				}
			}
		}
	}
}

// TestSgemmAllocs checks that Sgemm on one goroutine reuses its buffers
// instead of allocating on every call.
func TestSgemmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers under the race detector")
	}
	defer SetThreads(0)
	SetThreads(1)
	rng := rand.New(rand.NewPCG(9, 9))
	m, n, k := 100, 200, 300
	a, b, c := random(rng, m*k), random(rng, k*n), make([]float32, m*n)
	for _, p := range paths() {
		use(t, p)
		if p == pathGonum {
			continue // gonum's own business
		}
		allocs := testing.AllocsPerRun(10, func() { Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) })
		if allocs >= 1 {
			t.Errorf("%s: %v allocations per call, want 0", p, allocs)
		}
	}
}

func TestKernel(t *testing.T) {
	k, want := Kernel(), bestPath().String()
	if v := os.Getenv(KernelEnv); v != "" && v != "auto" && KernelEnvErr() == nil {
		want = v // the path the environment chose
	}
	if k != want {
		t.Errorf("Kernel() = %q, want %q (%s=%q)", k, want, KernelEnv, os.Getenv(KernelEnv))
	}
	t.Logf("Kernel() = %q; paths tested: %v", k, paths())
}

// TestSgemmStrides covers row strides of B that are multiples of 2 KiB, for
// which B is packed rather than read in place.
func TestSgemmStrides(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, pa := range paths() {
		use(t, pa)
		for _, s := range []struct{ m, n, k, pad int }{{30, 512, 40, 0}, {13, 500, 70, 12}, {25, 1024, 9, 0}} {
			p := newProblem(rng, false, false, s.m, s.n, s.k, s.pad, 1, 0.5)
			maxAbs, maxRel, err := p.compare(p.run())
			if err != nil || maxRel > tolerance {
				t.Errorf("%s %dx%dx%d ldb=%d: max abs error %.3g, max relative error %.3g, %v",
					pa, s.m, s.n, s.k, p.ldb, maxAbs, maxRel, err)
			}
		}
	}
}
