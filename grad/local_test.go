package grad

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// Two local tapes, each taking half the batch at once on its own goroutine,
// give the parameters the gradients one tape gives for the whole batch (up
// to rounding: the sums run in another order), leave the parameters' Grad
// alone until Gather, and gather to the same bits however the goroutines
// are scheduled. Run with -race, it also checks that the passes share no
// state but the parameters' values.
func TestLocalTapes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ps := NewParams()
	c1w, c1b := ps.Add("conv_in.weight", Uniform(r, 1/3., 8, 3, 3, 3)), ps.Add("conv_in.bias", Uniform(r, 1/3., 8))
	nw, nb := ps.Add("norm.weight", Uniform(r, 1, 8)), ps.Add("norm.bias", Uniform(r, 1, 8))
	lw, lb := ps.Add("proj.weight", Uniform(r, 0.3, 5, 8)), ps.Add("proj.bias", Uniform(r, 0.3, 5))
	const batch = 6
	x := Normal(r, 1, batch, 3, 6, 6)
	y := Normal(r, 1, batch, 36, 5)
	// loss of rows [lo, hi) of the batch, weighted by their share of it.
	loss := func(tp *Tape, lo, hi int) *Var {
		xs := nn.From(x.Data[lo*3*36:hi*3*36], hi-lo, 3, 6, 6)
		ys := nn.From(y.Data[lo*36*5:hi*36*5], hi-lo, 36, 5)
		h := tp.Conv2d(Const(xs), c1w, c1b, 1, 1)     // (b, 3, 6, 6) -> (b, 8, 6, 6)
		h = tp.SiLU(tp.GroupNorm(h, 4, nw, nb, 1e-5)) // (b, 8, 6, 6)
		h = tp.Transpose(tp.Reshape(h, hi-lo, 8, 36)) // (b, 8, 36) -> (b, 36, 8)
		out := tp.Linear(h, lw, lb)                   // (b, 36, 5)
		return tp.Scale(tp.MSE(out, Const(ys)), float32(hi-lo)/batch)
	}

	tp := NewTape()
	tp.Backward(loss(tp, 0, batch))
	want := map[string][]float32{}
	for _, name := range ps.Names() {
		want[name] = append([]float32(nil), ps.Get(name).Grad.Data...)
	}

	tapes := []*Tape{NewLocalTape(), NewLocalTape()}
	var first map[string][]float32
	for run := range 3 {
		ps.ZeroGrad()
		var wg sync.WaitGroup
		for s, ltp := range tapes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ltp.Reset()
				ltp.Backward(loss(ltp, s*batch/2, (s+1)*batch/2))
			}()
		}
		wg.Wait()
		for _, name := range ps.Names() {
			for _, g := range ps.Get(name).Grad.Data {
				if g != 0 {
					t.Fatalf("run %d: %s has a gradient before Gather", run, name)
				}
			}
		}
		ps.Gather(tapes...)
		got := map[string][]float32{}
		for _, name := range ps.Names() {
			got[name] = append([]float32(nil), ps.Get(name).Grad.Data...)
			maxAbs, scale := 0.0, 0.0
			for i, g := range got[name] {
				maxAbs = max(maxAbs, math.Abs(float64(g-want[name][i])))
				scale = max(scale, math.Abs(float64(want[name][i])))
			}
			if maxAbs > 1e-5*scale {
				t.Errorf("%s: max abs error %g against one tape (largest gradient %g)", name, maxAbs, scale)
			}
			if first != nil {
				for i, g := range got[name] {
					if g != first[name][i] {
						t.Fatalf("run %d: %s[%d] = %g, run 0 gathered %g", run, name, i, g, first[name][i])
					}
				}
			}
		}
		first = got
	}
}
