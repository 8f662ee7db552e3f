package grad

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// gradCase is one operation (or small composition) whose gradient is checked
// against central finite differences.
type gradCase struct {
	name   string
	shapes [][]int                        // one random N(0, 1) input per shape
	f      func(tp *Tape, in []*Var) *Var // the computation
	small  bool                           // shrink colBudget/scoreBudget to force blocking
	adjust func(in []*nn.Tensor)          // moves inputs away from kinks, if set
}

// The check: out = f(inputs) in float32, the scalar L = Σ out·R for a fixed
// random R, accumulated in float64. Backward seeded with R gives dL/dinput;
// the reference is (L(x+ε) − L(x−ε))/2ε per element, with ε = 1e-2 on inputs
// of unit scale, re-running the float32 forward (no separate float64 path:
// the forward under test is the one that trains). Truncation error is
// O(ε²) and the float32 rounding of L divided by 2ε is smaller still for
// these sizes; measured errors stay below 1e-4 relative to the largest
// gradient of each input. The bound 1e-3 leaves a 10× margin and still
// catches a 1% mistake in one term of a derivative.
const (
	fdEps = 1e-2
	fdTol = 1e-3
)

func gradCases() []gradCase {
	return []gradCase{
		{name: "linear", shapes: [][]int{{2, 3, 5}, {4, 5}, {4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Linear(in[0], in[1], in[2]) }},
		{name: "linear/nobias", shapes: [][]int{{7, 5}, {3, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Linear(in[0], in[1], nil) }},
		{name: "matmul", shapes: [][]int{{3, 4}, {4, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], false, false) }},
		{name: "matmul/transA", shapes: [][]int{{4, 3}, {4, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], true, false) }},
		{name: "matmul/transB", shapes: [][]int{{3, 4}, {5, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], false, true) }},
		{name: "matmul/transAB", shapes: [][]int{{4, 3}, {5, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], true, true) }},
		{name: "conv3x3/s1", shapes: [][]int{{2, 3, 5, 6}, {4, 3, 3, 3}, {4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2d(in[0], in[1], in[2], 1, 1) }},
		{name: "conv3x3/s2", shapes: [][]int{{2, 3, 7, 6}, {5, 3, 3, 3}, {5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2d(in[0], in[1], in[2], 2, 1) }},
		{name: "conv3x3/s1/banded", small: true, shapes: [][]int{{2, 2, 7, 5}, {3, 2, 3, 3}, {3}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2d(in[0], in[1], in[2], 1, 1) }},
		{name: "conv3x3/s2/pad0101", shapes: [][]int{{1, 2, 6, 5}, {3, 2, 3, 3}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2dPad(in[0], in[1], nil, 2, 0, 1, 0, 1) }},
		{name: "conv3x3/s1/pad0101", shapes: [][]int{{2, 3, 5, 4}, {2, 3, 3, 3}, {2}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2dPad(in[0], in[1], in[2], 1, 0, 1, 0, 1) }},
		{name: "conv3x3/s1/pad3", shapes: [][]int{{1, 2, 3, 4}, {3, 2, 3, 3}}, // pad ≥ kernel: the im2col path
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2d(in[0], in[1], nil, 1, 3) }},
		{name: "conv1x1", shapes: [][]int{{2, 4, 3, 5}, {3, 4, 1, 1}, {3}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Conv2d(in[0], in[1], in[2], 1, 0) }},
		{name: "groupnorm", shapes: [][]int{{2, 6, 3, 5}, {6}, {6}},
			f: func(tp *Tape, in []*Var) *Var { return tp.GroupNorm(in[0], 3, in[1], in[2], 1e-5) }},
		{name: "groupnorm/noaffine", shapes: [][]int{{3, 4, 7}},
			f: func(tp *Tape, in []*Var) *Var { return tp.GroupNorm(in[0], 2, nil, nil, 1e-6) }},
		{name: "layernorm", shapes: [][]int{{2, 3, 7}, {7}, {7}},
			f: func(tp *Tape, in []*Var) *Var { return tp.LayerNorm(in[0], in[1], in[2], 1e-5) }},
		{name: "attention/self", shapes: [][]int{{2, 5, 6}, {2, 5, 6}, {2, 5, 6}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Attention(in[0], in[1], in[2], 2, false) }},
		{name: "attention/cross", shapes: [][]int{{2, 5, 6}, {2, 7, 6}, {2, 7, 6}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Attention(in[0], in[1], in[2], 3, false) }},
		{name: "attention/causal", shapes: [][]int{{2, 6, 8}, {2, 6, 8}, {2, 6, 8}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Attention(in[0], in[1], in[2], 2, true) }},
		{name: "attention/causal/blocked", small: true, shapes: [][]int{{1, 9, 4}, {1, 9, 4}, {1, 9, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Attention(in[0], in[1], in[2], 1, true) }},
		{name: "attention/selfsame", shapes: [][]int{{1, 4, 6}}, // q = k = v: gradients add up
			f: func(tp *Tape, in []*Var) *Var { return tp.Attention(in[0], in[0], in[0], 2, false) }},
		{name: "silu", shapes: [][]int{{3, 7}},
			f: func(tp *Tape, in []*Var) *Var { return tp.SiLU(in[0]) }},
		{name: "gelu", shapes: [][]int{{3, 7}},
			f: func(tp *Tape, in []*Var) *Var { return tp.GELU(in[0]) }},
		{name: "quickgelu", shapes: [][]int{{3, 7}},
			f: func(tp *Tape, in []*Var) *Var { return tp.QuickGELU(in[0]) }},
		{name: "geglu", shapes: [][]int{{3, 2, 10}},
			f: func(tp *Tape, in []*Var) *Var { return tp.GEGLU(in[0]) }},
		{name: "exp", shapes: [][]int{{2, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Exp(in[0]) }},
		{name: "embedding", shapes: [][]int{{6, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Embedding(in[0], []int{1, 4, 1, 0, 5}) }},
		{name: "embedding+position", shapes: [][]int{{6, 4}, {3, 4}},
			f: func(tp *Tape, in []*Var) *Var {
				tok := tp.Reshape(tp.Embedding(in[0], []int{2, 3, 2, 5, 0, 1}), 2, 3, 4) // (B=2, L=3, D=4)
				return tp.Add(tok, in[1])
			}},
		{name: "add", shapes: [][]int{{2, 3, 4}, {2, 3, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[1]) }},
		{name: "add/broadcast", shapes: [][]int{{2, 3, 4}, {3, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[1]) }},
		{name: "addnc", shapes: [][]int{{2, 3, 4, 5}, {2, 3}},
			f: func(tp *Tape, in []*Var) *Var { return tp.AddNC(in[0], in[1]) }},
		{name: "sub", shapes: [][]int{{3, 5}, {3, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Sub(in[0], in[1]) }},
		{name: "mul", shapes: [][]int{{3, 5}, {3, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Mul(in[0], in[1]) }},
		{name: "mul/square", shapes: [][]int{{3, 5}}, // one input twice: gradients add up
			f: func(tp *Tape, in []*Var) *Var { return tp.Mul(in[0], in[0]) }},
		{name: "scale", shapes: [][]int{{3, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Scale(in[0], -0.7) }},
		{name: "mulscalar", shapes: [][]int{{3, 5}, {1}},
			f: func(tp *Tape, in []*Var) *Var { return tp.MulScalar(in[0], in[1]) }},
		{name: "reshape+transpose", shapes: [][]int{{2, 3, 4, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Transpose(tp.Reshape(in[0], 2, 3, 20)) }},
		{name: "concat", shapes: [][]int{{2, 3, 2, 2}, {2, 1, 2, 2}, {2, 2, 2, 2}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Concat(in[0], in[1], in[2]) }},
		{name: "channels", shapes: [][]int{{2, 5, 2, 3}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Channels(in[0], 1, 4) }},
		{name: "clamp", shapes: [][]int{{4, 5}},
			adjust: func(in []*nn.Tensor) { // keep every value 0.05 away from the bounds ±0.8
				for i, v := range in[0].Data {
					if d := float32(math.Abs(float64(v))) - 0.8; d > -0.05 && d < 0.05 {
						in[0].Data[i] = v * 1.2
					}
				}
			},
			f: func(tp *Tape, in []*Var) *Var { return tp.Clamp(in[0], -0.8, 0.8) }},
		{name: "upsample", shapes: [][]int{{2, 3, 3, 4}},
			f: func(tp *Tape, in []*Var) *Var { return tp.UpsampleNearest2x(in[0]) }},
		{name: "mse", shapes: [][]int{{3, 5}, {3, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.MSE(in[0], in[1]) }},
		{name: "l1", shapes: [][]int{{3, 5}, {3, 5}},
			adjust: func(in []*nn.Tensor) { // |pred − target| ≥ 0.5, far from the kink at 0
				for i, v := range in[1].Data {
					in[1].Data[i] = in[0].Data[i] + float32(math.Copysign(0.5+math.Abs(float64(v)), float64(v)))
				}
			},
			f: func(tp *Tape, in []*Var) *Var { return tp.L1(in[0], in[1]) }},
		{name: "mean", shapes: [][]int{{3, 5}},
			f: func(tp *Tape, in []*Var) *Var { return tp.Mean(in[0]) }},
		{name: "l2normalize", shapes: [][]int{{4, 6}},
			f: func(tp *Tape, in []*Var) *Var { return tp.L2Normalize(in[0]) }},
		{name: "crossentropy", shapes: [][]int{{4, 6}},
			f: func(tp *Tape, in []*Var) *Var { return tp.CrossEntropy(in[0], []int{0, 5, 2, 2}) }},
		{name: "clip-contrastive", shapes: [][]int{{4, 6}, {4, 6}, {1}},
			f: func(tp *Tape, in []*Var) *Var {
				img, txt := tp.L2Normalize(in[0]), tp.L2Normalize(in[1])
				logits := tp.MulScalar(tp.MatMul(img, txt, false, true), tp.Exp(in[2])) // (4, 6)·(4, 6)ᵀ -> (4, 4)
				labels := []int{0, 1, 2, 3}
				li, lt := tp.CrossEntropy(logits, labels), tp.CrossEntropy(tp.Transpose(logits), labels)
				return tp.Scale(tp.Add(li, lt), 0.5)
			}},
		{name: "resblock", shapes: [][]int{{2, 4, 3, 3}, {4, 4, 3, 3}, {4}, {2, 5}, {4, 5}, {4}},
			f: func(tp *Tape, in []*Var) *Var {
				h := tp.SiLU(tp.GroupNorm(in[0], 2, nil, nil, 1e-5))
				h = tp.Conv2d(h, in[1], in[2], 1, 1)
				h = tp.AddNC(h, tp.Linear(tp.SiLU(in[3]), in[4], in[5]))
				return tp.Add(in[0], h)
			}},
	}
}

func TestGradients(t *testing.T) {
	for _, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.small {
				cb, sb := colBudget, scoreBudget
				colBudget, scoreBudget = 20, 12
				defer func() { colBudget, scoreBudget = cb, sb }()
			}
			checkGrad(t, c)
		})
	}
}

func checkGrad(t *testing.T, c gradCase) {
	rng := rand.New(rand.NewPCG(7, uint64(len(c.name))))
	ins := make([]*nn.Tensor, len(c.shapes))
	for i, s := range c.shapes {
		ins[i] = randn(rng, 1, s...)
	}
	if c.adjust != nil {
		c.adjust(ins)
	}
	tp := NewTape()
	vars := make([]*Var, len(ins))
	for i, x := range ins {
		vars[i] = Param(x.Clone())
	}
	out := c.f(tp, vars)
	r := randn(rng, 1, out.Value.Shape...).Data
	tp.backward(out, r)

	loss := func() float64 {
		tp := NewTape()
		vs := make([]*Var, len(ins))
		for i, x := range ins {
			vs[i] = Const(x)
		}
		var s float64
		for i, v := range c.f(tp, vs).Value.Data {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	for i, x := range ins {
		var maxErr, maxRef float64
		for j, v := range x.Data {
			x.Data[j] = v + fdEps
			lp := loss()
			x.Data[j] = v - fdEps
			lm := loss()
			x.Data[j] = v
			num := (lp - lm) / (2 * fdEps)
			var got float64
			if g := vars[i].Grad; g != nil {
				got = float64(g.Data[j])
			}
			maxErr = max(maxErr, math.Abs(got-num))
			maxRef = max(maxRef, math.Abs(num))
		}
		rel := maxErr / max(maxRef, 1e-6)
		t.Logf("input %d %v: max abs err %.2e, relative to max |grad| %.2e: %.2e", i, x.Shape, maxErr, maxRef, rel)
		if rel > fdTol {
			t.Errorf("input %d %v: gradient off by %.2e relative (max abs err %.2e, max |grad| %.2e)", i, x.Shape, rel, maxErr, maxRef)
		}
	}
}

// randn returns a tensor of N(0, std²) values.
func randn(rng *rand.Rand, std float64, shape ...int) *nn.Tensor {
	t := nn.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * std)
	}
	return t
}

// TestConstInputs checks that gradients stop at Consts and that a tape over
// only Consts records nothing.
func TestConstInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := Const(randn(rng, 1, 2, 3, 4, 4))
	w := Param(randn(rng, 1, 5, 3, 3, 3))
	tp := NewTape()
	loss := tp.Mean(tp.Conv2d(x, w, nil, 1, 1))
	tp.Backward(loss)
	if x.Grad != nil {
		t.Errorf("Const input received a gradient")
	}
	if w.Grad == nil {
		t.Fatalf("parameter received no gradient")
	}
	tp.Reset()
	tp.Mean(tp.SiLU(x))
	if len(tp.nodes) != 0 {
		t.Errorf("tape over Consts recorded %d nodes, want 0", len(tp.nodes))
	}
}

// TestForwardMatchesNN checks the operations whose forward pass is written
// here (to keep what backward needs) against package nn's, which is checked
// against PyTorch, for every element.
func TestForwardMatchesNN(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	x4 := randn(r, 1, 2, 6, 5, 7)
	w6, b6 := randn(r, 1, 6), randn(r, 1, 6)
	x3 := randn(r, 2, 3, 9, 6)
	w, b := randn(r, 1, 6), randn(r, 1, 6)
	q, k, v := randn(r, 1, 2, 70, 12), randn(r, 1, 2, 70, 12), randn(r, 1, 2, 70, 12)
	kc, vc := randn(r, 1, 2, 11, 12), randn(r, 1, 2, 11, 12)
	for _, c := range []struct {
		name string
		got  func(tp *Tape) *Var
		want *nn.Tensor
	}{
		{"groupnorm", func(tp *Tape) *Var { return tp.GroupNorm(Const(x4), 3, Const(w6), Const(b6), 1e-5) },
			nn.GroupNorm(x4, 3, w6, b6, 1e-5)},
		{"layernorm", func(tp *Tape) *Var { return tp.LayerNorm(Const(x3), Const(w), Const(b), 1e-5) },
			nn.LayerNorm(x3, w, b, 1e-5)},
		{"attention/self", func(tp *Tape) *Var { return tp.Attention(Const(q), Const(k), Const(v), 3, false) },
			nn.Attention(q, k, v, 3, false)},
		{"attention/causal", func(tp *Tape) *Var { return tp.Attention(Const(q), Const(k), Const(v), 2, true) },
			nn.Attention(q, k, v, 2, true)},
		{"attention/cross", func(tp *Tape) *Var { return tp.Attention(Const(q), Const(kc), Const(vc), 4, false) },
			nn.Attention(q, kc, vc, 4, false)},
	} {
		got := c.got(NewTape()).Value
		var maxErr, maxRef float64
		for i, want := range c.want.Data {
			maxErr = max(maxErr, math.Abs(float64(got.Data[i]-want)))
			maxRef = max(maxRef, math.Abs(float64(want)))
		}
		t.Logf("%s: max abs err %.2e, relative to max |nn| %.2e", c.name, maxErr, maxErr/maxRef)
		if maxErr > 1e-5*maxRef {
			t.Errorf("%s: max abs err %.2e (max |nn| %.2e)", c.name, maxErr, maxRef)
		}
	}
}
