package sdmini

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
)

// The vae stage's batch in parts (vaePart, run on the avx2 path) has the
// loss and gradients of one pass over it up to rounding, and the same bits on
// any number of threads.
func TestVAEParts(t *testing.T) {
	defer nn.SetThreads(nn.Threads())
	r := rand.New(rand.NewPCG(5, 5))
	ps := grad.NewParams()
	m, err := NewVAE(ps, r, VAEConfig())
	if err != nil {
		t.Fatal(err)
	}
	const batch = 4
	imgs, scenes := trainingImages(r, batch, shapes.Recipe{PairShare: 0.5})
	w := foregroundWeights(imgs, scenes, 2)
	eps := grad.Normal(r, 1, batch, VAEConfig().LatentChannels, ImageSize/8, ImageSize/8)
	grads := func() [][]float32 {
		var g [][]float32
		for _, name := range ps.Names() {
			g = append(g, slices.Clone(ps.Get(name).Grad.Data))
		}
		return g
	}

	ps.ZeroGrad()
	tp := grad.NewTape()
	loss := vaeLoss(tp, m, imgs, w, eps)
	tp.Backward(loss)
	want, wantLoss := grads(), float64(loss.Value.Data[0])
	var maxAll float64 // the largest gradient of any parameter
	for _, g := range want {
		for _, v := range g {
			maxAll = max(maxAll, math.Abs(float64(v)))
		}
	}

	var first [][]float32
	for _, threads := range []int{1, 2, 3} {
		nn.SetThreads(threads)
		for _, parts := range []int{2, 4} {
			tr := &trainer{ps: ps, shards: parts}
			tr.shard = func(*rand.Rand) func(tp *grad.Tape, s int) *grad.Var {
				return vaePart(m, imgs, w, eps, parts)
			}
			tapes := make([]*grad.Tape, parts)
			for i := range tapes {
				tapes[i] = grad.NewLocalTape()
			}
			ps.ZeroGrad()
			l := tr.shardedStep(tapes, nil)
			if d := math.Abs(l - wantLoss); d > 1e-5*math.Abs(wantLoss) {
				t.Errorf("threads %d, %d parts: loss %g, one pass %g", threads, parts, l, wantLoss)
			}
			got := grads()
			worst := 0.0
			for i, name := range ps.Names() {
				var maxW, maxD float64
				for j, w := range want[i] {
					maxW = max(maxW, math.Abs(float64(w)))
					maxD = max(maxD, math.Abs(float64(got[i][j]-w)))
				}
				// Attention's key biases have no gradient but rounding
				// (softmax ignores a shift shared by a query's scores):
				// measure those against the gradients' overall scale.
				worst = max(worst, maxD/max(maxW, 1e-4*maxAll))
				if maxD > 1e-4*max(maxW, 1e-4*maxAll) {
					t.Errorf("threads %d, %d parts: %s: max |Δ| %.3g against max |grad| %.3g", threads, parts, name, maxD, maxW)
				}
			}
			if threads == 1 {
				t.Logf("%d parts: loss %.8g against %.8g; largest gradient difference %.2g of its parameter's largest", parts, l, wantLoss, worst)
			}
			if parts != 2 {
				continue
			}
			if first == nil {
				first = got
				continue
			}
			for i, name := range ps.Names() {
				if !slices.Equal(first[i], got[i]) {
					t.Errorf("2 parts: %s: the gradient's bits on %d threads differ from those on 1", name, threads)
				}
			}
		}
	}
}
