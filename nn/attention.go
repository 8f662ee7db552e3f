package nn

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/sdgo/sdgo/internal/gemm"
)

// Tile sizes of Attention: a block of attnRows queries meets the keys
// attnKeys at a time, so one worker's score tile is attnRows×attnKeys
// float32s (192 KiB), small enough to stay in the core's L2 cache.
const (
	attnRows = 96
	attnKeys = 512
)

// Attention is multi-head scaled-dot-product attention:
// q (B, Lq, H·Dh), k and v (B, Lk, H·Dh) → (B, Lq, H·Dh), where head h is
// columns [h·Dh, (h+1)·Dh), softmax(q·kᵀ·Dh^-½)·v per head. With causal,
// query i attends only to keys j ≤ i (CLIP's text transformer).
//
// It never holds the (Lq × Lk) score matrix. Work is split into tasks of one
// batch item, one head and a block of query rows, run in parallel; a task
// walks the keys a block at a time with an online softmax (as flash
// attention does): it keeps, per query row, the running maximum m and sum ℓ
// of e^(s−m), and an accumulator of Σ e^(s−m)·v, rescaled by e^(m_old−m_new)
// whenever the maximum grows; the output is the accumulator divided by ℓ.
func Attention(q, k, v *Tensor, heads int, causal bool) *Tensor {
	b, lq, dim := q.Shape[0], q.Shape[1], q.Shape[2]
	lk := k.Shape[1]
	dh := dim / heads
	out := New(b, lq, dim)
	qBlocks := (lq + attnRows - 1) / attnRows
	tasks := b * heads * qBlocks
	// Every block of queries multiplies by the transposed keys of its head.
	// With more than one block and narrow heads, transpose them once:
	// kᵀ (B, H·Dh, ldk) is B of q·kᵀ as the GEMM reads it in place, instead
	// of packing the keys from k's rows again for each block. With wider
	// heads a panel of kᵀ spans Dh rows ldk apart, and packing per block
	// measured faster (on a Zen 3: heads of 40 3% faster transposed once;
	// of 64 and 80, 3% slower; of 160, 30%).
	var kt []float32
	ldk := 0
	if qBlocks > 1 && dh <= attnTransposeMaxDh && attnTransposeKeys {
		ldk = keyStride(lk)
		kt = getScratch(b * dim * ldk)
		defer putScratch(kt)
		for bi := range b {
			transposeInto(kt[bi*dim*ldk:], ldk, k.Data[bi*lk*dim:(bi+1)*lk*dim], lk, dim)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(Threads(), tasks) {
		wg.Go(func() {
			w := newAttnWorker(dh)
			for t := int(next.Add(1)) - 1; t < tasks; t = int(next.Add(1)) - 1 {
				bi, h, r0 := t/(heads*qBlocks), t/qBlocks%heads, t%qBlocks*attnRows
				keys := attnKeysOf{k: k.Data[bi*lk*dim : (bi+1)*lk*dim]}
				if kt != nil {
					keys = attnKeysOf{t: kt[(bi*dim+h*dh)*ldk : (bi*dim+(h+1)*dh)*ldk], ld: ldk}
				}
				w.block(q.Data[bi*lq*dim:], keys, v.Data[bi*lk*dim:(bi+1)*lk*dim],
					out.Data[bi*lq*dim:], dim, dh, h, r0, min(attnRows, lq-r0), lk, causal)
			}
		})
	}
	wg.Wait()
	return out
}

// attnTransposeKeys lets tests turn the transposed keys off, to check that
// both ways give the same bits.
var attnTransposeKeys = true

// attnTransposeMaxDh is the widest head whose keys Attention transposes
// once per call: SD 1.5's 40, not SDXL's or SD 2's 64.
const attnTransposeMaxDh = 48

// attnKeysOf is the keys of one batch item for attnWorker.block: its rows
// k (Lk, H·Dh), or head h's transposed keys t (Dh, ld).
type attnKeysOf struct {
	k, t []float32
	ld   int
}

// keyStride is the row stride of transposed keys for lk keys: lk rounded up
// to whole cache lines, but not a multiple of 512 values (2 KiB), at which
// the rows of a GEMM panel would fall into the same cache sets.
func keyStride(lk int) int {
	ld := (lk + 15) / 16 * 16
	if ld%512 == 0 {
		ld += 16
	}
	return ld
}

// transposeInto writes dst[j*ldd+i] = src[i*cols+j] for i < rows, j < cols:
// the (rows, cols) matrix src transposed, in parallel, by blocks of 16×16
// that stay in cache.
func transposeInto(dst []float32, ldd int, src []float32, rows, cols int) {
	const bs = 16
	Parallel((cols+bs-1)/bs, 1, func(lo, hi int) {
		for jb := lo * bs; jb < min(hi*bs, cols); jb += bs {
			je := min(jb+bs, cols)
			for ib := 0; ib < rows; ib += bs {
				ie := min(ib+bs, rows)
				for j := jb; j < je; j++ {
					d := dst[j*ldd+ib : j*ldd+ie]
					for i := range d {
						d[i] = src[(ib+i)*cols+j]
					}
				}
			}
		}
	})
}

// attnWorker holds one goroutine's scratch buffers for Attention.
type attnWorker struct {
	s       []float32 // (attnRows, attnKeys) scores, then probabilities
	acc     []float32 // (attnRows, Dh) running Σ e^(s−m)·v
	mx, sum []float32 // (attnRows) running maximum and Σ e^(s−m)
}

func newAttnWorker(dh int) *attnWorker {
	return &attnWorker{
		s:   make([]float32, attnRows*attnKeys),
		acc: make([]float32, attnRows*dh),
		mx:  make([]float32, attnRows),
		sum: make([]float32, attnRows),
	}
}

// block computes the output rows [r0, r0+n) of head h for one batch item:
// q and out start at the item's first row, v is the item's values, all with
// row stride dim, and k its keys (attnKeysOf).
func (w *attnWorker) block(q []float32, k attnKeysOf, v, out []float32, dim, dh, h, r0, n, lk int, causal bool) {
	scale := float32(1 / math.Sqrt(float64(dh)))
	acc := w.acc[:n*dh]
	clear(acc)
	for i := range n {
		w.mx[i], w.sum[i] = float32(math.Inf(-1)), 0
	}
	end := lk
	if causal {
		end = min(lk, r0+n) // no row of the block sees a key past its own index
	}
	for j0 := 0; j0 < end; j0 += attnKeys {
		nk := min(attnKeys, end-j0)
		s := w.s[:n*nk]
		// (n, Dh) · (nk, Dh)ᵀ -> (n, nk), scaled by Dh^-½
		if k.t != nil {
			gemm.Sgemm(false, false, n, nk, dh, scale, q[r0*dim+h*dh:], dim, k.t[j0:], k.ld, 0, s, nk)
		} else {
			gemm.Sgemm(false, true, n, nk, dh, scale, q[r0*dim+h*dh:], dim, k.k[j0*dim+h*dh:], dim, 0, s, nk)
		}
		for i := range n {
			row := s[i*nk : (i+1)*nk]
			valid := nk
			if causal {
				valid = min(nk, r0+i+1-j0) // keys j ≤ r0+i
			}
			if valid <= 0 {
				clear(row)
				continue
			}
			m := max(w.mx[i], maxOf(row[:valid]))
			corr := exp32(w.mx[i] - m) // 0 on the first block (m_old = −∞)
			w.sum[i] = w.sum[i]*corr + expSub(row[:valid], m)
			clear(row[valid:])
			w.mx[i] = m
			if corr != 1 {
				a := acc[i*dh : (i+1)*dh]
				for e := range a {
					a[e] *= corr
				}
			}
		}
		// (n, nk) · (nk, Dh) -> (n, Dh), added to the accumulator
		MatMul(false, false, n, dh, nk, s, nk, v[j0*dim+h*dh:], dim, 1, acc, dh)
	}
	for i := range n {
		inv := 1 / w.sum[i]
		dst := out[(r0+i)*dim+h*dh : (r0+i)*dim+(h+1)*dh]
		for e, a := range acc[i*dh : (i+1)*dh] {
			dst[e] = a * inv
		}
	}
}
