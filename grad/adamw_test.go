package grad

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// TestAdamWHand checks two steps of one scalar against values worked out by
// hand from torch.optim.AdamW's update (lr 0.1, λ 0.01, default betas):
//
//	step 1, g = 0.5:  θ = 1·(1 − 0.001) − 0.1·0.5/(0.5 + 1e-8)          = 0.899
//	step 2, g = −1:   m = 0.9·0.05 − 0.1 = −0.055,  v = 0.999·0.00025 + 0.001 = 0.00124975
//	                  m̂ = −0.055/0.19,  v̂ = 0.00124975/0.001999
//	                  θ = 0.899·0.999 − 0.1·m̂/(√v̂ + 1e-8)            = 0.93471127
func TestAdamWHand(t *testing.T) {
	ps := NewParams()
	w := ps.Add("w", nn.From([]float32{1}, 1))
	opt := NewAdamW(ps, 0.1)
	for i, c := range []struct{ g, want float64 }{{0.5, 0.899}, {-1, 0.93471127}} {
		w.Grad = nn.From([]float32{float32(c.g)}, 1)
		opt.Step()
		if got := float64(w.Value.Data[0]); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("step %d: θ = %.8f, want %.8f", i+1, got, c.want)
		}
	}
}

// TestAdamWReference runs ten steps over two parameters (one exempt from
// decay, one skipped on some steps for lack of a gradient) against a float64
// transcription of the textbook algorithm.
func TestAdamWReference(t *testing.T) {
	ps := NewParams()
	a := ps.Add("a.weight", nn.From([]float32{0.5, -1.5, 2, 0.01, -0.3}, 5))
	b := ps.Add("a.bias", nn.From([]float32{0.2, -0.1}, 2))
	opt := NewAdamW(ps, 0.03)
	opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay = 0.8, 0.99, 1e-6, 0.1
	opt.NoDecay = func(name string) bool { return name == "a.bias" }

	type ref struct{ theta, m, v []float64 }
	refs := map[*Var]*ref{}
	steps := map[*Var]int{} // torch counts updates per parameter
	for _, p := range []*Var{a, b} {
		r := &ref{m: make([]float64, p.Value.Len()), v: make([]float64, p.Value.Len())}
		for _, x := range p.Value.Data {
			r.theta = append(r.theta, float64(x))
		}
		refs[p] = r
	}
	for step := 1; step <= 10; step++ {
		ps.ZeroGrad()
		for _, p := range []*Var{a, b} {
			if p == b && step%3 == 0 {
				p.Grad = nil // no gradient this step: left alone
				continue
			}
			p.Grad = nn.New(p.Value.Shape...)
			for i := range p.Grad.Data {
				p.Grad.Data[i] = float32(math.Sin(float64(step*7+i*3))) * 0.7
			}
		}
		opt.Step()
		for _, p := range []*Var{a, b} {
			if p.Grad == nil {
				continue
			}
			r := refs[p]
			steps[p]++
			decay := opt.WeightDecay
			if p == b {
				decay = 0
			}
			tt := float64(steps[p])
			for i := range r.theta {
				g := float64(p.Grad.Data[i])
				r.theta[i] -= opt.LR * decay * r.theta[i]
				r.m[i] = opt.Beta1*r.m[i] + (1-opt.Beta1)*g
				r.v[i] = opt.Beta2*r.v[i] + (1-opt.Beta2)*g*g
				mh := r.m[i] / (1 - math.Pow(opt.Beta1, tt))
				vh := r.v[i] / (1 - math.Pow(opt.Beta2, tt))
				r.theta[i] -= opt.LR * mh / (math.Sqrt(vh) + opt.Eps)
			}
		}
	}
	var maxErr float64
	for _, p := range []*Var{a, b} {
		for i, x := range p.Value.Data {
			maxErr = max(maxErr, math.Abs(float64(x)-refs[p].theta[i]))
		}
	}
	t.Logf("max abs error after 10 steps: %.2e", maxErr)
	if maxErr > 1e-6 {
		t.Errorf("max abs error %.2e, want ≤ 1e-6", maxErr)
	}
}

func TestClipGradNorm(t *testing.T) {
	ps := NewParams()
	a := ps.Add("a", nn.New(2))
	b := ps.Add("b", nn.New(1))
	ps.Add("c", nn.New(3)) // no gradient
	for _, c := range []struct {
		maxNorm, norm float64
		want          []float32 // a's then b's gradient after clipping
	}{
		{10, 5, []float32{3, 0, 4}},                          // under the bound: unchanged
		{1, 5, []float32{3 / (5 + 1e-6), 0, 4 / (5 + 1e-6)}}, // scaled to norm 1
	} {
		a.Grad, b.Grad = nn.From([]float32{3, 0}, 2), nn.From([]float32{4}, 1)
		if got := ps.ClipGradNorm(c.maxNorm); math.Abs(got-c.norm) > 1e-9 {
			t.Errorf("max %g: norm %g, want %g", c.maxNorm, got, c.norm)
		}
		got := append(append([]float32(nil), a.Grad.Data...), b.Grad.Data...)
		for i := range got {
			if math.Abs(float64(got[i]-c.want[i])) > 1e-7 {
				t.Errorf("max %g: gradients %v, want %v", c.maxNorm, got, c.want)
				break
			}
		}
	}
}

// TestAdamWLRScale checks that a parameter whose LRScale is s steps exactly
// as it would under an optimizer of learning rate LR·s (update and decay),
// while the others keep LR.
func TestAdamWLRScale(t *testing.T) {
	const lr, scale = 0.1, 0.5 // LR·s is exact in float64
	init := []float32{0.5, -1.5, 2}
	type run struct {
		ps   *Params
		a, b *Var
		opt  *AdamW
	}
	newRun := func(lr float64, lrScale func(string) float64) run {
		ps := NewParams()
		r := run{ps: ps, a: ps.Add("a", nn.From(append([]float32(nil), init...), 3)), b: ps.Add("b", nn.From(append([]float32(nil), init...), 3))}
		r.opt = NewAdamW(ps, lr)
		r.opt.LRScale = lrScale
		return r
	}
	scaled := newRun(lr, func(name string) float64 {
		if name == "b" {
			return scale
		}
		return 1
	})
	plain, slow := newRun(lr, nil), newRun(lr*scale, nil)
	for step := range 5 {
		for _, r := range []run{scaled, plain, slow} {
			for _, p := range []*Var{r.a, r.b} {
				p.Grad = nn.New(3)
				for i := range p.Grad.Data {
					p.Grad.Data[i] = float32(math.Sin(float64(step*5 + i)))
				}
			}
			r.opt.Step()
		}
	}
	for _, c := range []struct {
		name      string
		got, want *Var
	}{{"a (scale 1)", scaled.a, plain.a}, {"b (scale 0.5)", scaled.b, slow.b}} {
		for i, x := range c.got.Value.Data {
			if x != c.want.Value.Data[i] {
				t.Errorf("%s: %v, want %v", c.name, c.got.Value.Data, c.want.Value.Data)
				break
			}
		}
	}
	if scaled.b.Value.Data[0] == plain.b.Value.Data[0] {
		t.Errorf("b stepped at the full rate: %v", scaled.b.Value.Data)
	}
}

// adamw's AVX2 kernel gives its Go loop's bits.
func TestAdamWKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	k := &adamwFactors{decay: 0.99999, c1: 0.1, b2: 0.999, c2: 1 - float32(0.999), bc2Sqrt: 0.0447, eps: 1e-8, stepSize: 1e-3 / 0.1}
	for _, n := range []int{1, 7, 8, 9, 31, 1000} {
		vals := make([][]float32, 4) // θ, g, m, v
		for i := range vals {
			vals[i] = make([]float32, n)
			for j := range vals[i] {
				vals[i][j] = float32(r.NormFloat64())
				if r.IntN(10) == 0 {
					vals[i][j] = 0
				}
			}
		}
		for j := range vals[3] {
			vals[3][j] *= vals[3][j] // v ≥ 0
		}
		got, want := make([][]float32, 4), make([][]float32, 4)
		for i := range vals {
			got[i], want[i] = slices.Clone(vals[i]), slices.Clone(vals[i])
		}
		for range 3 {
			adamw(got[0], got[1], got[2], got[3], k)
			adamwGo(want[0], want[1], want[2], want[3], k)
		}
		for i, name := range []string{"θ", "g", "m", "v"} {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("n %d: %s after 3 steps differs from the Go loop's", n, name)
			}
		}
	}
}
