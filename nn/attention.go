package nn

import (
	"math"

	"github.com/sdgo/sdgo/internal/gemm"
)

// scoreBudget bounds the attention score block (in float32s) computed at
// once: the full (heads × L × L) score matrix is never held.
const scoreBudget = 1 << 20

// Attention is multi-head scaled-dot-product attention:
// q (B, Lq, H·Dh), k and v (B, Lk, H·Dh) → (B, Lq, H·Dh), where head h is
// columns [h·Dh, (h+1)·Dh), softmax(q·kᵀ·Dh^-½)·v per head. With causal,
// query i attends only to keys j ≤ i (CLIP's text transformer).
//
// It works head by head and a block of query rows at a time, so memory stays
// at one (rows × Lk) score block whatever the sequence length.
func Attention(q, k, v *Tensor, heads int, causal bool) *Tensor {
	b, lq, dim := q.Shape[0], q.Shape[1], q.Shape[2]
	lk := k.Shape[1]
	dh := dim / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	out := New(b, lq, dim)
	rows := max(1, min(lq, scoreBudget/max(1, lk)))
	scores := make([]float32, rows*lk)
	for bi := 0; bi < b; bi++ {
		qb := q.Data[bi*lq*dim : (bi+1)*lq*dim]
		kb := k.Data[bi*lk*dim : (bi+1)*lk*dim]
		vb := v.Data[bi*lk*dim : (bi+1)*lk*dim]
		ob := out.Data[bi*lq*dim : (bi+1)*lq*dim]
		for h := 0; h < heads; h++ {
			for r0 := 0; r0 < lq; r0 += rows {
				n := min(rows, lq-r0)
				s := scores[:n*lk]
				// (n, Dh) · (Lk, Dh)ᵀ -> (n, Lk), scaled by Dh^-½
				gemm.Sgemm(false, true, n, lk, dh, scale, qb[r0*dim+h*dh:], dim, kb[h*dh:], dim, 0, s, lk)
				Parallel(n, 16, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						row := s[i*lk : (i+1)*lk]
						if causal {
							for j := r0 + i + 1; j < lk; j++ {
								row[j] = float32(math.Inf(-1))
							}
						}
						softmaxRow(row)
					}
				})
				// (n, Lk) · (Lk, Dh) -> (n, Dh), into this head's columns of the output
				MatMul(false, false, n, dh, lk, s, lk, vb[h*dh:], dim, 0, ob[r0*dim+h*dh:], dim)
			}
		}
	}
	return out
}
