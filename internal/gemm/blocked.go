package gemm

import (
	"sync"
	"sync/atomic"

	"github.com/x448/float16"
)

// kernel is a micro-kernel with the cache-block sizes that suit it.
//
// The blocked algorithm (Goto's, as in BLIS) splits the product into blocks
// that stay in cache: a kc×nc block of op(B) is packed once into column
// panels of nr and reused for all rows of A; the micro-kernel multiplies mr
// rows of A by one panel, keeping the mr×nr tile of C in registers for all kc
// steps. A is packed into row panels of mr as well. The kernel takes the
// strides of both, so it can read A or B where they lie instead, when that
// saves more than it costs (product.aInPlace, product.bInPlace).
type kernel struct {
	mr, nr     int // register tile of C
	kc, mc, nc int // cache blocks: depth, rows of A, columns of B

	// tile computes the mr×nr tile
	//
	//	C[i*ldc+j] = alpha * Σp a[i*rs+p*cs]*b[p*bs+j] + beta*C[i*ldc+j]   (p < k)
	//
	// from mr rows of A, packed (rs 1, cs mr) or read in place, and nr
	// columns of B, packed (bs nr) or, if stridedB, read in place (bs ldb).
	// With beta 0 it does not read C.
	tile     tileFunc
	stridedB bool

	// narrow, if not nil, is tile for a B panel of nr/2 columns; it serves
	// the last column panel when at most nr/2 columns remain.
	narrow tileFunc

	// transposes pack a transposed B in square blocks, widest first.
	transposes []transposer

	// transposeA, if not nil, writes dst[j*ldd+i] = src[i*lds+j] for
	// i < mr, j < 16; it packs A 16 steps at a time.
	transposeA func(src []float32, lds int, dst []float32, ldd int)

	// transposeA16, if not nil, is transposeA on half-precision bits,
	// converting them: it packs a half-precision A without converting its
	// rows into buffers.convert first.
	transposeA16 func(src []uint16, lds int, dst []float32, ldd int)

	// convert writes dst[i] = float32 of the half-precision bits src[i].
	convert func(dst []float32, src []uint16)
}

// transposer transposes a w×w block: dst[j*ldd+i] = src[i*lds+j] for
// i, j < w.
type transposer struct {
	w  int
	fn func(src []float32, lds int, dst []float32, ldd int)
}

// tileFunc is the signature of kernel.tile.
type tileFunc func(k int, a []float32, rs, cs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32)

// panel returns the width of the column panel at jr of nb columns and the
// micro-kernel that computes it.
func (kern *kernel) panel(jr, nb int) (int, tileFunc) {
	if kern.narrow != nil && nb-jr <= kern.nr/2 {
		return kern.nr / 2, kern.narrow
	}
	return kern.nr, kern.tile
}

const (
	// minParallel is the number of multiply-adds below which Sgemm runs on
	// the calling goroutine alone: about 40 µs of one core, in which starting
	// goroutines would not pay off, least of all when the caller already
	// runs products on several goroutines (nn.Attention does).
	minParallel = 1 << 23

	// A product is split into up to partsPerThread parts per goroutine, of at
	// least minColTiles column panels or minRowTiles row panels (each part
	// packs its own op(B), so parts by rows must not be thin).
	partsPerThread = 4
	minColTiles    = 4
	minRowTiles    = 16

	// inPlaceN is the widest op(B) for which a transposed A is read in
	// place, and packAMinN the narrowest for which A with contiguous rows is
	// packed (product.aInPlace).
	inPlaceN  = 64
	packAMinN = 512
)

// operand is a matrix X of the product, used as op(X): its elements are
// float32 or IEEE 754 half-precision bits, op(X)[i][j] at x[i*ld+j], or at
// x[j*ld+i] when trans.
type operand struct {
	f32   []float32
	f16   []uint16
	ld    int // row stride
	trans bool
}

// rowsFrom returns the rows i.. of op(X).
func (x operand) rowsFrom(i int) operand {
	if !x.trans {
		i *= x.ld
	}
	return x.from(i)
}

// colsFrom returns the columns j.. of op(X).
func (x operand) colsFrom(j int) operand {
	if x.trans {
		j *= x.ld
	}
	return x.from(j)
}

// from returns x with its elements from offset on.
func (x operand) from(offset int) operand {
	if x.f16 != nil {
		x.f16 = x.f16[offset:]
	} else {
		x.f32 = x.f32[offset:]
	}
	return x
}

// product is one call of Sgemm on the blocked path:
// C = alpha*op(A)*op(B) + beta*C.
type product struct {
	kern        *kernel
	m, n, k     int
	alpha, beta float32
	a, b        operand
	c           []float32
	ldc         int
}

// run computes the product on up to Threads goroutines. It splits the larger
// of m and n into parts of whole tiles, each an independent product with its
// own buffers, and the goroutines take parts in turn until none is left: a
// goroutine that gets less of the CPU, when other programs share it, takes
// fewer parts instead of holding the others up.
func (g product) run() {
	t := Threads()
	if g.m*g.n*g.k < minParallel {
		t = 1
	}
	splitN := g.n >= g.m
	unit, size, minTiles := g.kern.mr, g.m, minRowTiles
	if splitN {
		unit, size, minTiles = g.kern.nr, g.n, minColTiles
	}
	tiles := (size + unit - 1) / unit
	parts := min(tiles, max(t, min(partsPerThread*t, tiles/minTiles)))
	if splitN && !g.aInPlace() {
		parts = min(tiles, t) // each part packs all of A: no more than needed
	}
	if t <= 1 || parts <= 1 {
		g.serial()
		return
	}
	g.parallel(min(t, parts), parts, tiles, unit, size, splitN)
}

// parallel computes the product on goroutines that take parts in turn: the
// parts of size along n (splitN) or m, in whole tiles of unit.
func (g product) parallel(goroutines, parts, tiles, unit, size int, splitN bool) {
	// part returns the product of part i; only the last has edge tiles.
	part := func(i int) product {
		lo := tiles * i / parts * unit
		hi := min(tiles*(i+1)/parts*unit, size)
		p := g
		if splitN {
			p.n, p.b, p.c = hi-lo, g.b.colsFrom(lo), g.c[lo:]
		} else {
			p.m, p.a, p.c = hi-lo, g.a.rowsFrom(lo), g.c[lo*g.ldc:]
		}
		return p
	}
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < parts; i = int(next.Add(1) - 1) {
			part(i).serial()
		}
	}
	var wg sync.WaitGroup
	for range goroutines - 1 {
		wg.Go(work)
	}
	work() // the calling goroutine works too
	wg.Wait()
}

// aInPlace reports whether the kernel reads A where it lies, rather than
// packed. Packing copies A once per block of op(B) into panels that sit
// contiguously in cache, which pays when each panel meets many column panels
// of op(B) and when the kernel has a fast transpose to pack with
// (transposeA); otherwise, a float32 A with contiguous rows is read in place,
// the hardware prefetcher streaming its mr rows. A transposed A is packed
// unless op(B) is so narrow that each row panel meets few column panels.
func (g product) aInPlace() bool {
	a := g.a
	switch {
	case a.f16 != nil:
		return false
	case a.trans:
		return g.n <= inPlaceN
	}
	return g.kern.transposeA == nil || g.n < packAMinN
}

// bInPlace reports whether the kernel reads B's full column panels where
// they lie, rather than packed: it can when B's rows are contiguous float32s,
// and it pays, saving the copy, unless the row stride is a multiple of 2 KiB.
// Then the rows of a panel fall into few cache sets, evict each other, and the
// kernel waits for them; a packed panel is contiguous.
func (g product) bInPlace() bool {
	b := g.b
	return g.kern.stridedB && b.f16 == nil && !b.trans && b.ld%512 != 0
}

// buffers holds one goroutine's packed blocks, reused across calls.
type buffers struct {
	a, b    []float32 // packed mc×kc block of op(A), kc×nc block of op(B)
	tile    []float32 // mr×nr scratch tile for edges of C
	convert []float32 // rows of A or B converted from half precision
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

// serial computes the product on the calling goroutine.
func (g product) serial() {
	kern, m, n, k := g.kern, g.m, g.n, g.k
	mr, nr := kern.mr, kern.nr
	kc := blocks(k, kern.kc, 1)
	mc := blocks(m, kern.mc, mr)
	nc := blocks(n, kern.nc, nr)

	a, inPlace := g.a, g.aInPlace()
	bInPlace := g.bInPlace()

	buf := pool.Get().(*buffers)
	defer pool.Put(buf)
	buf.a = grow(buf.a, mc*kc)
	buf.b = grow(buf.b, kc*nc)
	buf.tile = grow(buf.tile, mr*nr)

	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			g.packB(kb, nb, pc, jc, buf, bInPlace)
			beta := g.beta // later depth blocks add to the first's result
			if pc > 0 {
				beta = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				// Row panels from packed on are packed, those before read in place.
				packed := 0
				if inPlace {
					packed = mb / mr * mr
				}
				g.packA(mb-packed, kb, ic+packed, pc, buf)

				// micro computes the tile of C at (ic+ir, jc+jr).
				micro := func(ir, jr int) {
					w, tile := kern.panel(jr, nb)
					bp, bs := buf.b[jr*kb:], w
					if bInPlace && jr+w <= nb {
						bp, bs = g.b.f32[pc*g.b.ld+jc+jr:], g.b.ld
					}
					var ap []float32 // A's rows ic+ir.. from depth pc
					var rs, cs int
					switch {
					case ir >= packed:
						ap, rs, cs = buf.a[(ir-packed)*kb:], 1, mr
					case a.trans:
						ap, rs, cs = a.f32[pc*a.ld+ic+ir:], 1, a.ld
					default:
						ap, rs, cs = a.f32[(ic+ir)*a.ld+pc:], a.ld, 1
					}
					ct := g.c[(ic+ir)*g.ldc+jc+jr:]
					if ir+mr <= mb && jr+w <= nb {
						tile(kb, ap, rs, cs, bp, bs, ct, g.ldc, g.alpha, beta)
						return
					}
					// Edge: compute the whole tile aside, keep its valid part.
					tile(kb, ap, rs, cs, bp, bs, buf.tile, w, g.alpha, 0)
					merge(min(mr, mb-ir), min(w, nb-jr), buf.tile, w, beta, ct, g.ldc)
				}
				// Each B panel stays in L1 while it meets the rows of A,
				// which stay in L2.
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

// packA copies the mb×kb block of op(A) at (ic, pc) into buf.a as panels of
// mr rows: panel r holds, for each p, the mr values op(A)[ic+r*mr+i][pc+p] at
// buf.a[r*mr*kb + p*mr + i]. Rows past mb are zero. Half-precision values
// are converted on the way.
func (g product) packA(mb, kb, ic, pc int, buf *buffers) {
	kern, a, mr := g.kern, g.a, g.kern.mr
	for ir := 0; ir < mb; ir += mr {
		d := buf.a[ir*kb : (ir+mr)*kb]
		rows := min(mr, mb-ir)
		if rows < mr {
			clear(d)
		}
		if a.trans {
			// A is stored k×m: a row of A is a column of op(A).
			for p := range kb {
				at := (pc+p)*a.ld + ic + ir
				if a.f16 != nil {
					kern.convert(d[p*mr:p*mr+rows], a.f16[at:at+rows])
				} else {
					copy(d[p*mr:p*mr+rows], a.f32[at:at+rows])
				}
			}
			continue
		}
		if a.f16 != nil && kern.transposeA16 != nil && rows == mr {
			src := a.f16[(ic+ir)*a.ld+pc:]
			p0 := 0 // the transpose packs depths < p0
			for ; p0+16 <= kb; p0 += 16 {
				kern.transposeA16(src[p0:], a.ld, d[p0*mr:], mr)
			}
			for i := range rows {
				s := src[i*a.ld : i*a.ld+kb]
				for p := p0; p < kb; p++ {
					d[p*mr+i] = float16.Frombits(s[p]).Float32()
				}
			}
			continue
		}
		// Rows of A as float32s: in place, or converted into buf.convert.
		src, lds := a.f32, a.ld
		if a.f16 != nil {
			buf.convert = grow(buf.convert, rows*kb)
			for i := range rows {
				at := (ic+ir+i)*a.ld + pc
				kern.convert(buf.convert[i*kb:(i+1)*kb], a.f16[at:at+kb])
			}
			src, lds = buf.convert, kb
		} else {
			src = src[(ic+ir)*lds+pc:]
		}
		p0 := 0 // the transpose packs depths < p0
		if kern.transposeA != nil && rows == mr {
			for p0 = 0; p0+16 <= kb; p0 += 16 {
				kern.transposeA(src[p0:], lds, d[p0*mr:], mr)
			}
		}
		for i := range rows {
			s := src[i*lds : i*lds+kb]
			for p := p0; p < kb; p++ {
				d[p*mr+i] = s[p]
			}
		}
	}
}

// packB copies the kb×nb block of op(B) at (pc, jc) into buf.b as panels of
// nr columns: panel r holds, for each p, the nr values op(B)[pc+p][jc+r*nr+j]
// at buf.b[r*nr*kb + p*nr + j]. The last panel may be narrower
// (kernel.panel). Columns past nb are zero. Half-precision values are
// converted on the way.
func (g product) packB(kb, nb, pc, jc int, buf *buffers, inPlace bool) {
	kern, b := g.kern, g.b
	for jr := 0; jr < nb; jr += kern.nr {
		nr, _ := kern.panel(jr, nb)
		if inPlace && jr+nr <= nb {
			continue // the kernel reads this panel where it lies
		}
		d := buf.b[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		if cols < nr {
			clear(d)
		}
		switch {
		case !b.trans && b.f16 != nil:
			for p := range kb {
				s := b.f16[(pc+p)*b.ld+jc+jr:]
				kern.convert(d[p*nr:p*nr+cols], s[:cols])
			}
		case !b.trans:
			for p := range kb {
				s := b.f32[(pc+p)*b.ld+jc+jr:]
				copy(d[p*nr:p*nr+cols], s[:cols])
			}
		case b.f16 != nil:
			// Convert the panel's rows of B, then pack them as float32.
			buf.convert = grow(buf.convert, cols*kb)
			for j := range cols {
				s := b.f16[(jc+jr+j)*b.ld+pc:]
				kern.convert(buf.convert[j*kb:(j+1)*kb], s[:kb])
			}
			packColumns(kern, kb, cols, nr, buf.convert, kb, d)
		default:
			packColumns(kern, kb, cols, nr, b.f32[(jc+jr)*b.ld+pc:], b.ld, d)
		}
	}
}

// packColumns packs a panel of a transposed B, stored n×k: row j of src
// (stride lds) is column j of op(B), so d[p*nr+j] = src[j*lds+p] for j < cols,
// p < kb.
func packColumns(kern *kernel, kb, cols, nr int, src []float32, lds int, d []float32) {
	// from[j] is the depth from which column j is still to be packed; the
	// blocks of each width start where the wider ones stopped.
	var from [32]int // nr ≤ 32
	for _, t := range kern.transposes {
		for j := 0; j+t.w <= cols; j += t.w {
			p := from[j]
			for ; p+t.w <= kb; p += t.w {
				t.fn(src[j*lds+p:], lds, d[p*nr+j:], nr)
			}
			for jj := j; jj < j+t.w; jj++ {
				from[jj] = p
			}
		}
	}
	for j := range cols {
		s := src[j*lds : j*lds+kb]
		for p := from[j]; p < kb; p++ {
			d[p*nr+j] = s[p]
		}
	}
}
