package grad

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
)

// Linear is y = x·Wᵀ + b over the last dimension, as torch.nn.Linear:
// x (…, in), w (out, in), b (out) or nil → (…, out).
//
// Backward, with x flattened to (rows, in):
//
//	dx = dy·W         (rows, out)·(out, in)
//	dW += dyᵀ·x       (out, rows)·(rows, in)
//	db += Σ_rows dy
func (tp *Tape) Linear(x, w, b *Var) *Var {
	out, in := w.Value.Shape[0], w.Value.Shape[1]
	if x.Value.Dim(-1) != in || (b != nil && b.Value.Len() != out) {
		panic(fmt.Sprintf("grad.Linear: x %v, weight %v, bias %v", x.Value.Shape, w.Value.Shape, shapeOf(b)))
	}
	rows := x.Value.Len() / in
	shape := append(append([]int(nil), x.Value.Shape[:len(x.Value.Shape)-1]...), out)
	y := tp.result(shape, x, w, b)
	var bias *nn.Tensor
	if b != nil {
		bias = b.Value
	}
	// (rows, in) · (out, in)ᵀ + b -> (rows, out)
	nn.LinearInto(y.Value.Data, x.Value.Data, rows, w.Value, bias)
	tp.record(y, func() {
		dy := y.Grad.Data
		if wants(x) {
			// (rows, out) · (out, in) -> (rows, in)
			nn.MatMul(false, false, rows, in, out, dy, out, w.Value.Data, in, 1, tp.gradOf(x), in)
		}
		if wants(w) {
			// (rows, out)ᵀ · (rows, in) -> (out, in)
			nn.MatMul(true, false, out, in, rows, dy, out, x.Value.Data, in, 1, tp.gradOf(w), in)
		}
		if wants(b) {
			sumRows(tp.gradOf(b), dy, rows, out)
		}
	})
	return y
}

// sumRows adds the column sums of m (rows, n) into dst (n).
func sumRows(dst, m []float32, rows, n int) {
	for r := 0; r < rows; r++ {
		row := m[r*n : (r+1)*n]
		for j, v := range row {
			dst[j] += v
		}
	}
}

func shapeOf(v *Var) []int {
	if v == nil {
		return nil
	}
	return v.Value.Shape
}

// MatMul is the matrix product C = op(A)·op(B) of two 2-D Vars, where op
// transposes when its flag is set: with transB, a (m, k) and b (n, k) give
// a·bᵀ (m, n), the similarity logits of two sets of embeddings.
//
// Backward: dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, each written
// straight into the stored layout by choosing MatMul's flags.
func (tp *Tape) MatMul(a, b *Var, transA, transB bool) *Var {
	if len(a.Value.Shape) != 2 || len(b.Value.Shape) != 2 {
		panic(fmt.Sprintf("grad.MatMul: want 2-D operands, got %v and %v", a.Value.Shape, b.Value.Shape))
	}
	m, k := a.Value.Shape[0], a.Value.Shape[1]
	if transA {
		m, k = k, m
	}
	kb, n := b.Value.Shape[0], b.Value.Shape[1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("grad.MatMul: inner sizes of %v (trans %v) and %v (trans %v) differ", a.Value.Shape, transA, b.Value.Shape, transB))
	}
	lda, ldb := a.Value.Shape[1], b.Value.Shape[1]
	A, B := a.Value.Data, b.Value.Data
	c := tp.result([]int{m, n}, a, b)
	// op(A) (m, k) · op(B) (k, n) -> (m, n)
	nn.MatMul(transA, transB, m, n, k, A, lda, B, ldb, 0, c.Value.Data, n)
	tp.record(c, func() {
		dc := c.Grad.Data
		if wants(a) {
			da := tp.gradOf(a)
			if !transA {
				// dA (m, k) = dC (m, n) · op(B)ᵀ (n, k)
				nn.MatMul(false, !transB, m, k, n, dc, n, B, ldb, 1, da, lda)
			} else {
				// dA (k, m) = op(B) (k, n) · dCᵀ (n, m)
				nn.MatMul(transB, true, k, m, n, B, ldb, dc, n, 1, da, lda)
			}
		}
		if wants(b) {
			db := tp.gradOf(b)
			if !transB {
				// dB (k, n) = op(A)ᵀ (k, m) · dC (m, n)
				nn.MatMul(!transA, false, k, n, m, A, lda, dc, n, 1, db, ldb)
			} else {
				// dB (n, k) = dCᵀ (n, m) · op(A) (m, k)
				nn.MatMul(true, transA, n, k, m, dc, n, A, lda, 1, db, ldb)
			}
		}
	})
	return c
}
