package grad

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// stepState is the values a training step's elementwise updates write.
type stepState struct {
	theta, grad, m, v, avg map[string][]float32
}

func snapshot(ps *Params, opt *AdamW, ema *EMA) stepState {
	s := stepState{map[string][]float32{}, map[string][]float32{}, map[string][]float32{}, map[string][]float32{}, map[string][]float32{}}
	for i, name := range ps.Names() {
		v := ps.Get(name)
		s.theta[name] = append([]float32(nil), v.Value.Data...)
		if v.Grad != nil {
			s.grad[name] = append([]float32(nil), v.Grad.Data...)
		}
		s.m[name] = append([]float32(nil), opt.m[i]...)
		s.v[name] = append([]float32(nil), opt.v[i]...)
		s.avg[name] = append([]float32(nil), ema.Averages().Get(name).Value.Data...)
	}
	return s
}

// referenceStep is a step's serial work as it was written parameter by
// parameter, each value's arithmetic as in ZeroGrad, Gather, ClipGradNorm,
// AdamW.Step and EMA.Update.
func referenceStep(ps *Params, opt *AdamW, ema *EMA, tapes []*Tape) {
	for _, name := range ps.names {
		if g := ps.vars[name].Grad; g != nil {
			clear(g.Data)
		}
	}
	for _, name := range ps.names {
		v := ps.vars[name]
		for _, tp := range tapes {
			if g := tp.local[v]; g != nil {
				if v.Grad == nil {
					v.Grad = nn.New(v.Value.Shape...)
				}
				for j := range g.Data {
					v.Grad.Data[j] += g.Data[j]
				}
			}
		}
	}
	var ss float64
	for _, name := range ps.names {
		if g := ps.vars[name].Grad; g != nil {
			for _, v := range g.Data {
				ss += float64(v) * float64(v)
			}
		}
	}
	if coef := 1 / (math.Sqrt(ss) + 1e-6); coef < 1 {
		for _, name := range ps.names {
			if g := ps.vars[name].Grad; g != nil {
				for j := range g.Data {
					g.Data[j] *= float32(coef)
				}
			}
		}
	}
	opt.Steps++
	b1, b2, eps := float32(opt.Beta1), float32(opt.Beta2), float32(opt.Eps)
	for i, name := range ps.names {
		p := ps.vars[name]
		if p.Grad == nil {
			continue
		}
		opt.t[i]++
		t := float64(opt.t[i])
		stepSize := float32(opt.LR / (1 - math.Pow(opt.Beta1, t)))
		bc2Sqrt := float32(math.Sqrt(1 - math.Pow(opt.Beta2, t)))
		decay := float32(1 - opt.LR*opt.WeightDecay)
		if opt.NoDecay(name) {
			decay = 1
		}
		theta, g, m, v := p.Value.Data, p.Grad.Data, opt.m[i], opt.v[i]
		for j := range theta {
			theta[j] *= decay
			m[j] += (1 - b1) * (g[j] - m[j])
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			denom := float32(math.Sqrt(float64(v[j])))/bc2Sqrt + eps
			theta[j] -= stepSize * m[j] / denom
		}
	}
	d := float32(math.Min(ema.Decay, float64(1+ema.Updates)/float64(10+ema.Updates)))
	ema.Updates++
	for _, name := range ps.names {
		theta, avg := ps.vars[name].Value.Data, ema.avg.vars[name].Value.Data
		for j := range avg {
			avg[j] = d*avg[j] + (1-d)*theta[j]
		}
	}
}

// The elementwise updates of a step run over all parameters at once, split
// across the threads (Params.ranges); every value comes out with the bits
// of the parameter-by-parameter loops, on any number of threads.
func TestStepRanges(t *testing.T) {
	// Sizes around the range bounds, a parameter without gradient (c) and
	// one that only the second tape reaches (e), an empty one (f).
	sizes := map[string]int{"a": 1, "b": minRange - 3, "c": 5000, "d": 3*minRange + 17, "e": 70001, "f": 0, "g": 7, "h": 2 * minRange}
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	build := func() (*Params, *AdamW, *EMA, []*Tape) {
		r := rand.New(rand.NewPCG(3, 4))
		ps := NewParams()
		for _, name := range names {
			ps.Add(name, Normal(r, 1, sizes[name]))
		}
		opt := NewAdamW(ps, 1e-2)
		opt.NoDecay = func(name string) bool { return name == "b" || name == "g" }
		ema := NewEMA(ps, 0.99)
		tapes := []*Tape{NewLocalTape(), NewLocalTape()}
		for s, tp := range tapes {
			for _, name := range names {
				if name == "c" || name == "e" && s == 0 {
					continue
				}
				tp.local[ps.Get(name)] = Normal(r, 0.1, sizes[name]) // large enough to be clipped
			}
		}
		return ps, opt, ema, tapes
	}
	ps, opt, ema, tapes := build()
	for range 3 {
		referenceStep(ps, opt, ema, tapes)
	}
	want := snapshot(ps, opt, ema)
	defer nn.SetThreads(nn.Threads())
	for _, threads := range []int{1, 2, 3} {
		nn.SetThreads(threads)
		ps, opt, ema, tapes := build()
		for range 3 {
			ps.ZeroGrad()
			ps.Gather(tapes...)
			if norm := ps.ClipGradNorm(1); norm <= 1 {
				t.Fatalf("gradient norm %g: not clipped", norm)
			}
			opt.Step()
			ema.Update()
		}
		got := snapshot(ps, opt, ema)
		for _, c := range []struct {
			what      string
			got, want map[string][]float32
		}{{"value", got.theta, want.theta}, {"gradient", got.grad, want.grad}, {"first moment", got.m, want.m}, {"second moment", got.v, want.v}, {"average", got.avg, want.avg}} {
			if len(c.got) != len(c.want) {
				t.Fatalf("%d threads: %d parameters have a %s, want %d", threads, len(c.got), c.what, len(c.want))
			}
			for name, w := range c.want {
				for j := range w {
					if math.Float32bits(c.got[name][j]) != math.Float32bits(w[j]) {
						t.Fatalf("%d threads: %s %s[%d] = %v, want %v", threads, c.what, name, j, c.got[name][j], w[j])
					}
				}
			}
		}
		if opt.t[2] != 0 || opt.t[0] != 3 {
			t.Errorf("%d threads: update counts %v, want 3 but for c's 0", threads, opt.t)
		}
	}
}
