package grad

import (
	"fmt"
	"math"
	"slices"
)

// MSE is the mean squared error mean((pred − target)²) over all elements,
// as torch.nn.functional.mse_loss: a one-element loss.
// Backward: dpred = 2·(pred − target)/n, dtarget = −dpred.
func (tp *Tape) MSE(pred, target *Var) *Var {
	mustShape("MSE", pred.Value.Shape, target.Value.Shape)
	P, T := pred.Value.Data, target.Value.Data
	var s float64
	for i, p := range P {
		d := float64(p) - float64(T[i])
		s += d * d
	}
	n := float64(len(P))
	y := tp.result([]int{1}, pred, target)
	y.Value.Data[0] = float32(s / n)
	tp.record(y, func() {
		g := 2 * float64(y.Grad.Data[0]) / n
		if wants(pred) {
			dp := tp.gradOf(pred)
			for i, p := range P {
				dp[i] += float32(g * (float64(p) - float64(T[i])))
			}
		}
		if wants(target) {
			dt := tp.gradOf(target)
			for i, p := range P {
				dt[i] -= float32(g * (float64(p) - float64(T[i])))
			}
		}
	})
	return y
}

// L1 is the mean absolute error mean(|pred − target|) over all elements, as
// torch.nn.functional.l1_loss (the VAE's reconstruction loss): a one-element
// loss. Backward: dpred = sign(pred − target)/n (0 where equal),
// dtarget = −dpred.
func (tp *Tape) L1(pred, target *Var) *Var {
	mustShape("L1", pred.Value.Shape, target.Value.Shape)
	P, T := pred.Value.Data, target.Value.Data
	var s float64
	for i, p := range P {
		s += math.Abs(float64(p) - float64(T[i]))
	}
	n := float32(len(P))
	y := tp.result([]int{1}, pred, target)
	y.Value.Data[0] = float32(s / float64(n))
	tp.record(y, func() {
		g := y.Grad.Data[0] / n
		sign := func(d float32) float32 {
			switch {
			case d > 0:
				return g
			case d < 0:
				return -g
			}
			return 0
		}
		if wants(pred) {
			dp := tp.gradOf(pred)
			for i, p := range P {
				dp[i] += sign(p - T[i])
			}
		}
		if wants(target) {
			dt := tp.gradOf(target)
			for i, p := range P {
				dt[i] -= sign(p - T[i])
			}
		}
	})
	return y
}

// Mean is the mean of all elements of x, a one-element Var.
func (tp *Tape) Mean(x *Var) *Var {
	var s float64
	for _, v := range x.Value.Data {
		s += float64(v)
	}
	n := float32(x.Value.Len())
	y := tp.result([]int{1}, x)
	y.Value.Data[0] = float32(s) / n
	tp.record(y, func() {
		g := y.Grad.Data[0] / n
		dx := tp.gradOf(x)
		for i := range dx {
			dx[i] += g
		}
	})
	return y
}

// L2Normalize divides each row of the last dimension of x by its Euclidean
// norm, as CLIP normalises its embeddings (x / x.norm(dim=-1, keepdim=True)).
// Backward, with y = x/‖x‖: dx = (dy − y·⟨y, dy⟩)/‖x‖.
func (tp *Tape) L2Normalize(x *Var) *Var {
	d := x.Value.Dim(-1)
	rows := x.Value.Len() / d
	y := tp.result(x.Value.Shape, x)
	norms := tp.buf(rows, false)
	X, Y := x.Value.Data, y.Value.Data
	for r := 0; r < rows; r++ {
		var s float64
		for _, v := range X[r*d : (r+1)*d] {
			s += float64(v) * float64(v)
		}
		norms[r] = float32(math.Sqrt(s))
		inv := 1 / norms[r]
		for i, v := range X[r*d : (r+1)*d] {
			Y[r*d+i] = v * inv
		}
	}
	tp.record(y, func() {
		dx, dy := tp.gradOf(x), y.Grad.Data
		for r := 0; r < rows; r++ {
			yr, gr := Y[r*d:(r+1)*d], dy[r*d:(r+1)*d]
			var dot float64
			for i, v := range yr {
				dot += float64(v) * float64(gr[i])
			}
			inv := 1 / norms[r]
			for i, v := range yr {
				dx[r*d+i] += (gr[i] - v*float32(dot)) * inv
			}
		}
	})
	return y
}

// CrossEntropy is the mean over rows of −log softmax(logits)[label], as
// torch.nn.functional.cross_entropy: logits (N, K), labels N classes in
// [0, K) → a one-element loss. For CLIP's contrastive loss the labels are
// 0…N−1 and the loss is averaged with that of the transposed logits.
// Backward: dlogits = (softmax(logits) − onehot(label))/N.
func (tp *Tape) CrossEntropy(logits *Var, labels []int) *Var {
	ls := logits.Value.Shape
	if len(ls) != 2 || ls[0] != len(labels) {
		panic(fmt.Sprintf("grad.CrossEntropy: logits %v for %d labels", ls, len(labels)))
	}
	n, k := ls[0], ls[1]
	for _, l := range labels {
		if l < 0 || l >= k {
			panic(fmt.Sprintf("grad.CrossEntropy: label %d outside %d classes", l, k))
		}
	}
	labels = slices.Clone(labels)
	L := logits.Value.Data
	lse := tp.buf(n, false)
	var s float64
	for r := 0; r < n; r++ {
		lse[r] = logSumExp(L[r*k : (r+1)*k])
		s += float64(lse[r]) - float64(L[r*k+labels[r]])
	}
	y := tp.result([]int{1}, logits)
	y.Value.Data[0] = float32(s / float64(n))
	tp.record(y, func() {
		g := y.Grad.Data[0] / float32(n)
		dl := tp.gradOf(logits)
		for r := 0; r < n; r++ {
			for j, v := range L[r*k : (r+1)*k] {
				dl[r*k+j] += g * float32(math.Exp(float64(v-lse[r])))
			}
			dl[r*k+labels[r]] -= g
		}
	})
	return y
}

// logSumExp is log Σ exp(v), computed stably in float64.
func logSumExp(v []float32) float32 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, float64(x))
	}
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x) - m)
	}
	return float32(m + math.Log(s))
}
