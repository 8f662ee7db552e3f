package grad

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/sdgo/sdgo/nn"
)

// scoreBudget bounds one worker's score block (in float32s): a block of
// query rows meets all keys at once. A variable so that tests can force
// several blocks.
var scoreBudget = 1 << 16

// Attention is multi-head scaled-dot-product attention, as nn.Attention:
// q (B, Lq, H·Dh), k and v (B, Lk, H·Dh) → (B, Lq, H·Dh), head h owning
// columns [h·Dh, (h+1)·Dh): softmax(q·kᵀ/√Dh)·v. Self-attention passes
// projections of the same sequence, cross-attention projections of the
// context; with causal, query i sees keys j ≤ i only (CLIP's text model).
//
// Like flash attention it never holds the whole score matrix: the forward
// pass keeps only each query row's log-sum-exp, and backward rebuilds the
// probabilities P of a block of rows from it. With O the output and
// D_i = Σ_d dO_id·O_id, per head:
//
//	dV += Pᵀ·dO
//	dS  = P ⊙ (dO·Vᵀ − D) / √Dh
//	dQ += dS·K,   dK += dSᵀ·Q
//
// Both passes run the (batch, head) pairs in parallel, one goroutine
// walking all query blocks of a pair, so that dK and dV of a head are only
// ever written by one goroutine.
func (tp *Tape) Attention(q, k, v *Var, heads int, causal bool) *Var {
	qs, ks := q.Value.Shape, k.Value.Shape
	if len(qs) != 3 || heads < 1 || qs[2]%heads != 0 || !nn.SameShape(ks, v.Value.Shape) || len(ks) != 3 || ks[0] != qs[0] || ks[2] != qs[2] {
		panic(fmt.Sprintf("grad.Attention: q %v, k %v, v %v, %d heads", qs, ks, v.Value.Shape, heads))
	}
	b, lq, dim, lk := qs[0], qs[1], qs[2], ks[1]
	dh := dim / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	out := tp.result(qs, q, k, v)
	lse := tp.buf(b*heads*lq, false) // log Σ_j exp(s_ij) of every (batch, head, query)
	rows := max(1, min(lq, scoreBudget/max(1, lk)))
	workers := min(nn.Threads(), b*heads)
	scratch := tp.buf(workers*rows*lk, false) // one score block per worker
	Q, K, V, O := q.Value.Data, k.Value.Data, v.Value.Data, out.Value.Data
	parallelTasks(workers, b*heads, func(w, task int) {
		bi, h := task/heads, task%heads
		qb, kb, vb, ob := Q[bi*lq*dim:], K[bi*lk*dim:], V[bi*lk*dim:], O[bi*lq*dim:]
		l := lse[task*lq:]
		s := scratch[w*rows*lk : (w+1)*rows*lk]
		for r0 := 0; r0 < lq; r0 += rows {
			n := min(rows, lq-r0)
			// (n, Dh) · (Lk, Dh)ᵀ -> (n, Lk)
			nn.MatMul(false, true, n, lk, dh, qb[r0*dim+h*dh:], dim, kb[h*dh:], dim, 0, s, lk)
			for i := range n {
				l[r0+i] = softmaxRow(s[i*lk:(i+1)*lk], scale, visible(causal, r0+i, lk))
			}
			// (n, Lk) · (Lk, Dh) -> (n, Dh), this head's columns of the output
			nn.MatMul(false, false, n, dh, lk, s, lk, vb[h*dh:], dim, 0, ob[r0*dim+h*dh:], dim)
		}
	})
	tp.record(out, func() {
		dO := out.Grad.Data
		var dQ, dK, dV []float32
		if wants(q) {
			dQ = tp.gradOf(q)
		}
		if wants(k) {
			dK = tp.gradOf(k)
		}
		if wants(v) {
			dV = tp.gradOf(v)
		}
		scratch := tp.buf(2*workers*rows*lk, false) // P and dS blocks per worker
		parallelTasks(workers, b*heads, func(w, task int) {
			bi, h := task/heads, task%heads
			qb, kb, vb, ob, dob := Q[bi*lq*dim:], K[bi*lk*dim:], V[bi*lk*dim:], O[bi*lq*dim:], dO[bi*lq*dim:]
			l := lse[task*lq:]
			p := scratch[2*w*rows*lk : (2*w+1)*rows*lk]
			ds := scratch[(2*w+1)*rows*lk : (2*w+2)*rows*lk]
			for r0 := 0; r0 < lq; r0 += rows {
				n := min(rows, lq-r0)
				// Rebuild P (n, Lk) = exp(s·scale − lse).
				nn.MatMul(false, true, n, lk, dh, qb[r0*dim+h*dh:], dim, kb[h*dh:], dim, 0, p, lk)
				for i := range n {
					row, end := p[i*lk:(i+1)*lk], visible(causal, r0+i, lk)
					scaleRow(row[:end], scale)
					nn.ExpSub(row[:end], l[r0+i])
					clear(row[end:])
				}
				if dV != nil {
					// (n, Lk)ᵀ · (n, Dh) -> (Lk, Dh)
					nn.MatMul(true, false, lk, dh, n, p, lk, dob[r0*dim+h*dh:], dim, 1, dV[bi*lk*dim+h*dh:], dim)
				}
				if dQ == nil && dK == nil {
					continue
				}
				// dP (n, Lk) = (n, Dh) · (Lk, Dh)ᵀ
				nn.MatMul(false, true, n, lk, dh, dob[r0*dim+h*dh:], dim, vb[h*dh:], dim, 0, ds, lk)
				for i := range n {
					o, g := ob[(r0+i)*dim+h*dh:][:dh], dob[(r0+i)*dim+h*dh:][:dh]
					var d float32 // D_i = Σ dO·O = Σ_j P_ij·dP_ij
					for e := range o {
						d += o[e] * g[e]
					}
					pr, dr := p[i*lk:(i+1)*lk], ds[i*lk:(i+1)*lk]
					for j := range dr {
						dr[j] = pr[j] * (dr[j] - d) * scale
					}
				}
				if dQ != nil {
					// (n, Lk) · (Lk, Dh) -> (n, Dh)
					nn.MatMul(false, false, n, dh, lk, ds, lk, kb[h*dh:], dim, 1, dQ[bi*lq*dim+r0*dim+h*dh:], dim)
				}
				if dK != nil {
					// (n, Lk)ᵀ · (n, Dh) -> (Lk, Dh)
					nn.MatMul(true, false, lk, dh, n, ds, lk, qb[r0*dim+h*dh:], dim, 1, dK[bi*lk*dim+h*dh:], dim)
				}
			}
		})
	})
	return out
}

// parallelTasks runs fn(worker, task) for every task in [0, tasks) on
// `workers` goroutines that take tasks in turn; worker indexes scratch space.
func parallelTasks(workers, tasks int, fn func(worker, task int)) {
	if workers <= 1 {
		for t := range tasks {
			fn(0, t)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for t := int(next.Add(1)) - 1; t < tasks; t = int(next.Add(1)) - 1 {
				fn(w, t)
			}
		})
	}
	wg.Wait()
}

// visible is the number of keys query i may attend to.
func visible(causal bool, i, lk int) int {
	if causal {
		return min(i+1, lk)
	}
	return lk
}

// softmaxRow replaces row[:end] by softmax(row·scale) and row[end:] by 0,
// and returns the log-sum-exp of the scaled row.
func softmaxRow(row []float32, scale float32, end int) float32 {
	r := row[:end]
	scaleRow(r, scale)
	m := nn.MaxOf(r)
	s := nn.ExpSub(r, m) // e^(v−m), summed
	inv := 1 / s
	for j := range r {
		r[j] *= inv
	}
	clear(row[end:])
	return m + float32(math.Log(float64(s)))
}

// scaleRow multiplies row by scale in place.
func scaleRow(row []float32, scale float32) {
	for j := range row {
		row[j] *= scale
	}
}
