package grad

import (
	"fmt"
	"math"

	"github.com/sdgo/sdgo/nn"
)

// scoreBudget bounds the attention score block (in float32s) held at once,
// as in nn.Attention. A variable so that tests can force several blocks.
var scoreBudget = 1 << 20

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
	s := tp.buf(rows*lk, false)
	Q, K, V, O := q.Value.Data, k.Value.Data, v.Value.Data, out.Value.Data
	for bi := 0; bi < b; bi++ {
		qb, kb, vb, ob := Q[bi*lq*dim:], K[bi*lk*dim:], V[bi*lk*dim:], O[bi*lq*dim:]
		for h := 0; h < heads; h++ {
			l := lse[(bi*heads+h)*lq:]
			for r0 := 0; r0 < lq; r0 += rows {
				n := min(rows, lq-r0)
				// (n, Dh) · (Lk, Dh)ᵀ -> (n, Lk)
				nn.MatMul(false, true, n, lk, dh, qb[r0*dim+h*dh:], dim, kb[h*dh:], dim, 0, s, lk)
				nn.Parallel(n, 16, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						l[r0+i] = softmaxRow(s[i*lk:(i+1)*lk], scale, visible(causal, r0+i, lk))
					}
				})
				// (n, Lk) · (Lk, Dh) -> (n, Dh), this head's columns of the output
				nn.MatMul(false, false, n, dh, lk, s, lk, vb[h*dh:], dim, 0, ob[r0*dim+h*dh:], dim)
			}
		}
	}
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
		p := tp.buf(rows*lk, false)
		ds := tp.buf(rows*lk, false)
		for bi := 0; bi < b; bi++ {
			qb, kb, vb, ob, dob := Q[bi*lq*dim:], K[bi*lk*dim:], V[bi*lk*dim:], O[bi*lq*dim:], dO[bi*lq*dim:]
			for h := 0; h < heads; h++ {
				l := lse[(bi*heads+h)*lq:]
				for r0 := 0; r0 < lq; r0 += rows {
					n := min(rows, lq-r0)
					// Rebuild P (n, Lk) = exp(s·scale − lse).
					nn.MatMul(false, true, n, lk, dh, qb[r0*dim+h*dh:], dim, kb[h*dh:], dim, 0, p, lk)
					nn.Parallel(n, 16, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							row, end := p[i*lk:(i+1)*lk], visible(causal, r0+i, lk)
							expScaled(row[:end], scale, l[r0+i])
							clear(row[end:])
						}
					})
					if dV != nil {
						// (n, Lk)ᵀ · (n, Dh) -> (Lk, Dh)
						nn.MatMul(true, false, lk, dh, n, p, lk, dob[r0*dim+h*dh:], dim, 1, dV[bi*lk*dim+h*dh:], dim)
					}
					if dQ == nil && dK == nil {
						continue
					}
					// dP (n, Lk) = (n, Dh) · (Lk, Dh)ᵀ
					nn.MatMul(false, true, n, lk, dh, dob[r0*dim+h*dh:], dim, vb[h*dh:], dim, 0, ds, lk)
					nn.Parallel(n, 16, func(lo, hi int) {
						for i := lo; i < hi; i++ {
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
					})
					if dQ != nil {
						// (n, Lk) · (Lk, Dh) -> (n, Dh)
						nn.MatMul(false, false, n, dh, lk, ds, lk, kb[h*dh:], dim, 1, dQ[bi*lq*dim+r0*dim+h*dh:], dim)
					}
					if dK != nil {
						// (n, Lk)ᵀ · (n, Dh) -> (Lk, Dh)
						nn.MatMul(true, false, lk, dh, n, ds, lk, qb[r0*dim+h*dh:], dim, 1, dK[bi*lk*dim+h*dh:], dim)
					}
				}
			}
		}
	})
	return out
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
	m := float32(math.Inf(-1))
	for _, v := range row[:end] {
		m = max(m, v*scale)
	}
	expScaled(row[:end], scale, m)
	var s float32
	for _, e := range row[:end] {
		s += e
	}
	inv := 1 / s
	for j := range row[:end] {
		row[j] *= inv
	}
	clear(row[end:])
	return m + float32(math.Log(float64(s)))
}
