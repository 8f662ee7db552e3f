package grad

import (
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

func TestAttentionProbsGradient(t *testing.T) {
	checkGrad(t, gradCase{name: "attention-probs", shapes: [][]int{{2, 5, 6}, {2, 4, 6}},
		f: func(tp *Tape, in []*Var) *Var { return tp.AttentionProbs(in[0], in[1], 2) }})
}

// The head-averaged probabilities are Attention's: with v the identity,
// attention's output is the probabilities themselves.
func TestAttentionProbsMatchAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const lq, lk, heads = 5, 4, 1
	q, k := randn(rng, 1, 1, lq, lk), randn(rng, 1, 1, lk, lk)
	v := nn.New(1, lk, lk)
	for j := range lk {
		v.Data[j*lk+j] = 1
	}
	tp := NewTape()
	want := tp.Attention(Const(q), Const(k), Const(v), heads, false).Value
	got := tp.AttentionProbs(Const(q), Const(k), heads).Value
	for i := range want.Data {
		if d := got.Data[i] - want.Data[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("element %d: %g, want %g", i, got.Data[i], want.Data[i])
		}
	}
}

// Frozen parameters take no gradient; BackwardWith seeds the output's.
func TestFreezeBackwardWith(t *testing.T) {
	ps := NewParams()
	w := ps.Add("w", nn.From([]float32{2, 3}, 1, 2))
	ps.Freeze()
	x := Param(nn.From([]float32{1, 1}, 1, 2))
	tp := NewTape()
	y := tp.Linear(x, w, nil) // (1, 1)
	tp.BackwardWith(y, nn.From([]float32{10}, 1, 1))
	if w.Grad != nil {
		t.Errorf("frozen weight got a gradient %v", w.Grad.Data)
	}
	if x.Grad == nil || x.Grad.Data[0] != 20 || x.Grad.Data[1] != 30 {
		t.Errorf("x's gradient %v, want [20 30]", x.Grad)
	}
}
