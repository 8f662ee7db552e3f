package grad

import (
	"fmt"
	"math"

	"github.com/sdgo/sdgo/nn"
)

// Freeze makes every parameter a constant: no gradient flows into them any
// more, so a backward pass computes only what reaches the other leaves —
// the latent of an image being steered at inference time, say. It cannot
// be undone; freeze a parameter set made for the purpose.
func (p *Params) Freeze() {
	for _, v := range p.vars {
		v.param, v.needs = false, false
	}
}

// BackwardWith runs the tape back from out, whose gradient is seeded with
// seed (out's shape): the gradient of Σ out·seed. It is how a loss computed
// outside the tape, with its gradient with respect to out worked out by
// hand, flows back into the leaves.
func (tp *Tape) BackwardWith(out *Var, seed *nn.Tensor) {
	mustShape("BackwardWith", out.Value.Shape, seed.Shape)
	tp.backward(out, seed.Data)
}

// AttentionProbs returns the attention probabilities of q (B, Lq, H·Dh)
// over k (B, Lk, H·Dh), averaged over the H heads: (B, Lq, Lk), row i the
// mean over heads of softmax(q_i·kᵀ/√Dh) — the cross-attention maps that
// Attend-and-Excite and SynGen read, one map of the image per prompt token
// (column). Attention computes the same probabilities without keeping
// them; this op keeps them so that a loss can be put on them.
//
// Backward, per head with P its probabilities and G = dOut/H:
// dS = P ⊙ (G − rowsum(G ⊙ P)), dq += dS·k/√Dh, dk += dSᵀ·q/√Dh.
func (tp *Tape) AttentionProbs(q, k *Var, heads int) *Var {
	qs, ks := q.Value.Shape, k.Value.Shape
	if len(qs) != 3 || len(ks) != 3 || heads < 1 || qs[2]%heads != 0 || ks[0] != qs[0] || ks[2] != qs[2] {
		panic(fmt.Sprintf("grad.AttentionProbs: q %v, k %v, %d heads", qs, ks, heads))
	}
	b, lq, dim, lk := qs[0], qs[1], qs[2], ks[1]
	dh := dim / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	out := tp.result([]int{b, lq, lk}, q, k)
	clear(out.Value.Data)
	P := tp.buf(b*heads*lq*lk, false) // every head's probabilities, (B, H, Lq, Lk)
	Q, K, O := q.Value.Data, k.Value.Data, out.Value.Data
	inv := 1 / float32(heads)
	for bi := range b {
		for h := range heads {
			p := P[(bi*heads+h)*lq*lk : (bi*heads+h+1)*lq*lk]
			// (Lq, Dh) · (Lk, Dh)ᵀ -> (Lq, Lk)
			nn.MatMul(false, true, lq, lk, dh, Q[bi*lq*dim+h*dh:], dim, K[bi*lk*dim+h*dh:], dim, 0, p, lk)
			o := O[bi*lq*lk:]
			for i := range lq {
				row := p[i*lk : (i+1)*lk]
				softmaxRow(row, scale, lk)
				for j, v := range row {
					o[i*lk+j] += v * inv
				}
			}
		}
	}
	tp.record(out, func() {
		G := out.Grad.Data
		ds := make([]float32, lq*lk)
		for bi := range b {
			for h := range heads {
				p := P[(bi*heads+h)*lq*lk : (bi*heads+h+1)*lq*lk]
				g := G[bi*lq*lk:]
				for i := range lq {
					var dot float32
					for j := range lk {
						dot += g[i*lk+j] * p[i*lk+j]
					}
					for j := range lk {
						ds[i*lk+j] = p[i*lk+j] * (g[i*lk+j] - dot) * inv * scale
					}
				}
				if wants(q) {
					// (Lq, Lk) · (Lk, Dh) -> (Lq, Dh), this head's columns
					nn.MatMul(false, false, lq, dh, lk, ds, lk, K[bi*lk*dim+h*dh:], dim, 1, tp.gradOf(q)[bi*lq*dim+h*dh:], dim)
				}
				if wants(k) {
					// (Lq, Lk)ᵀ · (Lq, Dh) -> (Lk, Dh)
					nn.MatMul(true, false, lk, dh, lq, ds, lk, Q[bi*lq*dim+h*dh:], dim, 1, tp.gradOf(k)[bi*lk*dim+h*dh:], dim)
				}
			}
		}
	})
	return out
}
