package gemm

import (
	"sync"
)

// kernel is a micro-kernel with the cache-block sizes that suit it.
//
// The blocked algorithm (Goto's, as in BLIS) splits the product into blocks
// that stay in cache: a kc×nc block of op(B) is packed once and reused for
// all rows; an mc×kc block of op(A) is packed and reused for all nc columns;
// the micro-kernel multiplies an mr-row panel of packed A by an nr-column
// panel of packed B, keeping the mr×nr tile of C in registers for all kc steps.
type kernel struct {
	mr, nr     int // register tile of C
	kc, mc, nc int // cache blocks: depth, rows of A, columns of B

	// tile computes the mr×nr tile
	//
	//	C[i*ldc+j] = alpha * Σp a[i*rs+p*cs]*b[p*nr+j] + beta*C[i*ldc+j]   (p < k)
	//
	// from mr rows of A, packed (rs 1, cs mr) or read in place, and a packed
	// B panel (k×nr). With beta 0 it does not read C.
	tile func(k int, a []float32, rs, cs int, b, c []float32, ldc int, alpha, beta float32)

	// narrow, if not nil, is tile for a B panel of nr/2 columns; it serves
	// the last column panel when at most nr/2 columns remain.
	narrow func(k int, a []float32, rs, cs int, b, c []float32, ldc int, alpha, beta float32)

	// transpose, if not nil, writes dst[j*ldd+i] = src[i*lds+j] for
	// i, j < 16; it packs a transposed B 16×16 at a time.
	transpose func(src []float32, lds int, dst []float32, ldd int)
}

// panel returns the width of the column panel at jr of nb columns and the
// micro-kernel that computes it.
func (kern *kernel) panel(jr, nb int) (int, func(k int, a []float32, rs, cs int, b, c []float32, ldc int, alpha, beta float32)) {
	if kern.narrow != nil && nb-jr <= kern.nr/2 {
		return kern.nr / 2, kern.narrow
	}
	return kern.nr, kern.tile
}

// inPlaceN is the widest op(B) for which the kernel reads a transposed A in
// place instead of packing it.
var inPlaceN = 64

// minParallel is the number of multiply-adds below which Sgemm runs on the
// calling goroutine alone: smaller products finish before goroutines pay off.
const minParallel = 1 << 18

// sgemmBlocked is Sgemm by packing, cache blocking and a micro-kernel. It
// splits the larger of m and n into one part per goroutine; each part is an
// independent product with its own packing buffers.
func sgemmBlocked(kern *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	t := Threads()
	if m*n*k < minParallel {
		t = 1
	}
	splitN := n >= m
	unit, size := kern.mr, m
	if splitN {
		unit, size = kern.nr, n
	}
	// Parts are whole tiles, so only the last part has edge tiles.
	tiles := (size + unit - 1) / unit
	t = min(t, tiles)
	if t <= 1 {
		serialBlocked(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	for part := range t {
		lo := tiles * part / t * unit
		hi := min(tiles*(part+1)/t*unit, size)
		if splitN {
			bj := b[lo:] // columns lo.. of op(B)
			if transB {
				bj = b[lo*ldb:]
			}
			wg.Go(func() {
				serialBlocked(kern, transA, transB, m, hi-lo, k, alpha, a, lda, bj, ldb, beta, c[lo:], ldc)
			})
		} else {
			var ai []float32 // rows lo.. of op(A)
			if transA {
				ai = a[lo:]
			} else {
				ai = a[lo*lda:]
			}
			wg.Go(func() {
				serialBlocked(kern, transA, transB, hi-lo, n, k, alpha, ai, lda, b, ldb, beta, c[lo*ldc:], ldc)
			})
		}
	}
	wg.Wait()
}

// buffers holds one goroutine's packed blocks, reused across calls.
type buffers struct {
	a, b []float32 // packed mc×kc block of op(A), kc×nc block of op(B)
	tile []float32 // mr×nr scratch tile for edges of C
}

var pool = sync.Pool{New: func() any { return new(buffers) }}

// grow returns s resized to n elements, reallocating only when too small.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// blocks divides n into the fewest blocks of at most size, of equal length
// rounded up to a multiple of unit, and returns that length.
func blocks(n, size, unit int) int {
	count := (n + size - 1) / size
	per := (n + count - 1) / count
	return (per + unit - 1) / unit * unit
}

// serialBlocked is sgemmBlocked on the calling goroutine.
func serialBlocked(kern *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	kc := blocks(k, kern.kc, 1)
	mc := blocks(m, kern.mc, mr)
	nc := blocks(n, kern.nc, nr)

	// The kernel reads A where it lies when its rows are contiguous: the
	// hardware prefetcher streams the mr rows as well as one packed panel.
	// A transposed A is packed, unless op(B) is so narrow that each row panel
	// serves few column panels and packing would cost more than it saves.
	inPlace := (!transA || n <= inPlaceN) && !forcePack

	buf := pool.Get().(*buffers)
	defer pool.Put(buf)
	buf.a = grow(buf.a, mc*kc)
	buf.b = grow(buf.b, kc*nc)
	buf.tile = grow(buf.tile, mr*nr)

	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(kern, transB, kb, nb, b, ldb, pc, jc, buf.b)
			bet := beta // later depth blocks add to the first's result
			if pc > 0 {
				bet = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				// Rows from packed (packed ≤ ir) are packed, those before are read in place.
				packed := 0
				if inPlace {
					packed = mb / mr * mr
				}
				packA(transA, mb-packed, kb, mr, a, lda, ic+packed, pc, buf.a)
				// micro computes the tile of C at (ic+ir, jc+jr).
				micro := func(ir, jr int) {
					w, tile := kern.panel(jr, nb)
					bp := buf.b[jr*kb:]
					var ap []float32 // A's rows ic+ir.. from depth pc
					var rs, cs int
					switch {
					case ir >= packed:
						ap, rs, cs = buf.a[(ir-packed)*kb:], 1, mr
					case transA:
						ap, rs, cs = a[pc*lda+ic+ir:], 1, lda
					default:
						ap, rs, cs = a[(ic+ir)*lda+pc:], lda, 1
					}
					ct := c[(ic+ir)*ldc+jc+jr:]
					if ir+mr <= mb && jr+w <= nb {
						tile(kb, ap, rs, cs, bp, ct, ldc, alpha, bet)
						return
					}
					// Edge: compute the whole tile aside, keep its valid part.
					tile(kb, ap, rs, cs, bp, buf.tile, w, alpha, 0)
					merge(min(mr, mb-ir), min(w, nb-jr), buf.tile, w, bet, ct, ldc)
				}
				if nb <= narrowN {
					// Few column panels: each A panel stays in L1 while it
					// meets them all, and the B panels stay in L2.
					for ir := 0; ir < mb; ir += mr {
						for jr := 0; jr < nb; jr += nr {
							micro(ir, jr)
						}
					}
					continue
				}
				// Each B panel stays in L1 while it meets the rows of A, which
				// stay in L2.
				for jr := 0; jr < nb; jr += nr {
					for ir := 0; ir < mb; ir += mr {
						micro(ir, jr)
					}
				}
			}
		}
	}
}

// merge sets the m×n tile C = T + beta*C, not reading C when beta is 0.
func merge(m, n int, t []float32, ldt int, beta float32, c []float32, ldc int) {
	for i := range m {
		ti, ci := t[i*ldt:i*ldt+n], c[i*ldc:i*ldc+n]
		switch beta {
		case 0:
			copy(ci, ti)
		case 1:
			for j, v := range ti {
				ci[j] += v
			}
		default:
			for j, v := range ti {
				ci[j] = v + beta*ci[j]
			}
		}
	}
}

// packA copies the mb×kb block of op(A) at (ic, pc) into dst as panels of mr
// rows: panel r holds, for each p, the mr values op(A)[ic+r*mr+i][pc+p] at
// dst[r*mr*kb + p*mr + i]. Rows past mb are zero.
func packA(transA bool, mb, kb, mr int, a []float32, lda, ic, pc int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		d := dst[ir*kb : (ir+mr)*kb]
		rows := min(mr, mb-ir)
		if rows < mr {
			clear(d)
		}
		if transA {
			// A is stored k×m: a row of A is a column of op(A).
			for p := range kb {
				s := a[(pc+p)*lda+ic+ir:]
				copy(d[p*mr:p*mr+rows], s[:rows])
			}
			continue
		}
		for i := range rows {
			s := a[(ic+ir+i)*lda+pc:]
			s = s[:kb]
			for p, v := range s {
				d[p*mr+i] = v
			}
		}
	}
}

// packB copies the kb×nb block of op(B) at (pc, jc) into dst as panels of nr
// columns: panel r holds, for each p, the nr values op(B)[pc+p][jc+r*nr+j] at
// dst[r*nr*kb + p*nr + j]. The last panel may be narrower (kernel.panel).
// Columns past nb are zero.
func packB(kern *kernel, transB bool, kb, nb int, b []float32, ldb, pc, jc int, dst []float32) {
	for jr := 0; jr < nb; jr += kern.nr {
		nr, _ := kern.panel(jr, nb)
		d := dst[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		if cols < nr {
			clear(d)
		}
		if transB {
			// B is stored n×k: a row of B is a column of op(B).
			j0, p0 := 0, 0 // columns and depths before these are packed
			if kern.transpose != nil {
				j0, p0 = cols/16*16, kb/16*16
				for j := 0; j < j0; j += 16 {
					s := b[(jc+jr+j)*ldb+pc:]
					for p := 0; p < p0; p += 16 {
						kern.transpose(s[p:], ldb, d[p*nr+j:], nr)
					}
				}
			}
			for j := range cols {
				s := b[(jc+jr+j)*ldb+pc:]
				s = s[:kb]
				from := 0
				if j < j0 {
					from = p0
				}
				for p := from; p < kb; p++ {
					d[p*nr+j] = s[p]
				}
			}
			continue
		}
		for p := range kb {
			s := b[(pc+p)*ldb+jc+jr:]
			copy(d[p*nr:p*nr+cols], s[:cols])
		}
	}
}

var forcePack bool

// narrowN is the widest block of op(B) that the micro-kernels sweep row panel
// by row panel.
var narrowN = 128
