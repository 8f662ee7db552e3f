package grad

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// mlp is a two-layer perceptron in → hidden → out with SiLU, its parameters
// named as a torch nn.Sequential would name them.
type mlp struct{ w1, b1, w2, b2 *Var }

func newMLP(ps *Params, r *rand.Rand, in, hidden, out int) *mlp {
	b1, b2 := 1/float32(math.Sqrt(float64(in))), 1/float32(math.Sqrt(float64(hidden)))
	return &mlp{
		w1: ps.Add("net.0.weight", Uniform(r, b1, hidden, in)),
		b1: ps.Add("net.0.bias", Uniform(r, b1, hidden)),
		w2: ps.Add("net.2.weight", Uniform(r, b2, out, hidden)),
		b2: ps.Add("net.2.bias", Uniform(r, b2, out)),
	}
}

func (m *mlp) forward(tp *Tape, x *Var) *Var {
	return tp.Linear(tp.SiLU(tp.Linear(x, m.w1, m.b1)), m.w2, m.b2) // (B, in) -> (B, hidden) -> (B, out)
}

// toyBatch returns inputs (b, 3) and targets y = sin(2·x0) + x1·x2 (b, 1).
func toyBatch(r *rand.Rand, b int) (x, y *nn.Tensor) {
	x, y = nn.New(b, 3), nn.New(b, 1)
	for i := 0; i < b; i++ {
		for j := 0; j < 3; j++ {
			x.Data[i*3+j] = 2*r.Float32() - 1
		}
		x0, x1, x2 := float64(x.Data[i*3]), float64(x.Data[i*3+1]), float64(x.Data[i*3+2])
		y.Data[i] = float32(math.Sin(2*x0) + x1*x2)
	}
	return x, y
}

func TestTrain(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps int
		lr    float64
		// build creates the parameters and returns a step's loss on a fresh batch.
		build func(ps *Params, r *rand.Rand) func(tp *Tape) *Var
	}{
		{
			name: "mlp", steps: 300, lr: 1e-2,
			build: func(ps *Params, r *rand.Rand) func(tp *Tape) *Var {
				m := newMLP(ps, r, 3, 32, 1)
				return func(tp *Tape) *Var {
					x, y := toyBatch(r, 64)
					return tp.MSE(m.forward(tp, Const(x)), Const(y))
				}
			},
		},
		{
			// Learn a fixed 3×3 filter followed by SiLU with a conv net
			// conv(1→4) → GroupNorm → SiLU → conv(4→1).
			name: "convnet", steps: 300, lr: 1e-2,
			build: func(ps *Params, r *rand.Rand) func(tp *Tape) *Var {
				c1w, c1b := ps.Add("conv_in.weight", Uniform(r, 1/3., 4, 1, 3, 3)), ps.Add("conv_in.bias", Uniform(r, 1/3., 4))
				nw, nb := ps.Add("norm.weight", Full(1, 4)), ps.Add("norm.bias", Full(0, 4))
				c2w, c2b := ps.Add("conv_out.weight", Uniform(r, 1/6., 1, 4, 3, 3)), ps.Add("conv_out.bias", Uniform(r, 1/6., 1))
				k := nn.From([]float32{0, -1, 0, -1, 2, 1, 0, 1, 0}, 1, 1, 3, 3)
				return func(tp *Tape) *Var {
					x := Normal(r, 1, 8, 1, 8, 8)
					y := nn.SiLU(nn.Conv2d(x, k, nil, 1, 1))
					h := tp.Conv2d(Const(x), c1w, c1b, 1, 1) // (B, 1, 8, 8) -> (B, 4, 8, 8)
					h = tp.SiLU(tp.GroupNorm(h, 2, nw, nb, 1e-5))
					h = tp.Conv2d(h, c2w, c2b, 1, 1) // (B, 4, 8, 8) -> (B, 1, 8, 8)
					return tp.MSE(h, Const(y))
				}
			},
		},
		{
			// CLIP in miniature: two linear encoders learn to pair each
			// "image" with its "caption" (a fixed random linear view of it
			// plus noise) against the other 15 of the batch, with CLIP's
			// symmetric cross-entropy and learned temperature.
			name: "contrastive", steps: 300, lr: 1e-2,
			build: func(ps *Params, r *rand.Rand) func(tp *Tape) *Var {
				img := ps.Add("visual_projection.weight", Uniform(r, 1/4., 8, 16))
				txt := ps.Add("text_projection.weight", Uniform(r, 1/4., 8, 16))
				scale := ps.Add("logit_scale", nn.From([]float32{2.6592}, 1)) // log(1/0.07), CLIP's start
				view := Normal(r, 0.25, 16, 16)
				labels := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
				return func(tp *Tape) *Var {
					x := Normal(r, 1, 16, 16)
					y := nn.Linear(x, view, nil)
					for i := range y.Data {
						y.Data[i] += 0.1 * float32(r.NormFloat64())
					}
					ei := tp.L2Normalize(tp.Linear(Const(x), img, nil)) // (16, 16) -> (16, 8)
					et := tp.L2Normalize(tp.Linear(Const(y), txt, nil))
					logits := tp.MulScalar(tp.MatMul(ei, et, false, true), tp.Exp(scale)) // (16, 8)·(16, 8)ᵀ -> (16, 16)
					li, lt := tp.CrossEntropy(logits, labels), tp.CrossEntropy(tp.Transpose(logits), labels)
					return tp.Scale(tp.Add(li, lt), 0.5)
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			ps := NewParams()
			step := c.build(ps, r)
			opt := NewAdamW(ps, c.lr)
			tp := NewTape()
			var first, last float64
			for i := 0; i < c.steps; i++ {
				tp.Reset()
				loss := step(tp)
				ps.ZeroGrad()
				tp.Backward(loss)
				opt.Step()
				l := float64(loss.Value.Data[0])
				if i < 10 {
					first += l / 10
				}
				if i >= c.steps-10 {
					last += l / 10
				}
			}
			t.Logf("mean loss of the first 10 steps %.4f, of the last 10 %.5f (%.0f× lower)", first, last, first/last)
			if !(last < first/10) {
				t.Errorf("loss fell from %.4f to %.5f, want 10× lower", first, last)
			}
		})
	}
}
