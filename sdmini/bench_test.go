package sdmini

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/internal/cputime"
	"github.com/sdgo/sdgo/nn"
)

// Training steps (forward, backward, AdamW) of each network at sd-mini's
// sizes. Run briefly: go test -run X -bench . -benchtime 3x ./sdmini
func BenchmarkTextStep(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	ps := grad.NewParams()
	m, _ := NewText(ps, r, TextConfig(300))
	opt := grad.NewAdamW(ps, 1e-4)
	const batch, l = 64, 20
	ids := make([][]int, batch)
	for i := range ids {
		ids[i] = make([]int, l)
		for j := range ids[i] {
			ids[i][j] = r.IntN(298)
		}
	}
	tp := grad.NewTape()
	b.ReportMetric(float64(ps.Count()), "params")
	for b.Loop() {
		tp.Reset()
		x := Pool(tp, ids, m.Forward(tp, ids))
		loss := tp.Mean(tp.Mul(x, x))
		ps.ZeroGrad()
		tp.Backward(loss)
		opt.Step()
	}
}

func BenchmarkVAEStep(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	ps := grad.NewParams()
	m, _ := NewVAE(ps, r, VAEConfig())
	opt := grad.NewAdamW(ps, 1e-4)
	const batch = 8
	x := grad.Const(grad.Normal(r, 0.5, batch, 3, ImageSize, ImageSize))
	tp := grad.NewTape()
	b.ReportMetric(float64(ps.Count()), "params")
	for b.Loop() {
		tp.Reset()
		mom := m.Encode(tp, x)
		y := m.Decode(tp, selectChannels(tp, mom, 0, 4))
		loss := tp.MSE(y, x)
		ps.ZeroGrad()
		tp.Backward(loss)
		opt.Step()
	}
}

// BenchmarkUNetStep runs the batch as one pass (parts=1) and as the unet
// stage does, in unetShards parts at once on local tapes; and so again
// with the text encoder trained with the U-Net on the batch's 77-token
// captions (text, Options.TextLR) instead of a fixed context. cpu-s/op is
// the process's CPU time per step, the figure that means something on a
// shared machine.
func BenchmarkUNetStep(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	cfg := UNetConfig()
	const batch = 32
	x := grad.Normal(r, 1, batch, 4, 8, 8)
	ctx := grad.Normal(r, 1, batch, 77, cfg.CrossAttentionDim)
	ids := make([][]int, batch)
	for i := range ids {
		ids[i] = make([]int, 77)
		for j := range ids[i] {
			ids[i][j] = r.IntN(314)
		}
	}
	ts := make([]float32, batch)
	for i := range ts {
		ts[i] = float32(r.IntN(1000))
	}
	for _, c := range []struct {
		parts int
		text  bool
	}{{1, false}, {unetShards, false}, {unetShards, true}} {
		name := fmt.Sprintf("parts=%d", c.parts)
		if c.text {
			name += ",text"
		}
		b.Run(name, func(b *testing.B) {
			parts := c.parts
			ps := grad.NewParams()
			m, _ := NewUNet(ps, rand.New(rand.NewPCG(1, 1)), cfg)
			var text *Text
			if c.text {
				text, _ = NewText(ps, rand.New(rand.NewPCG(1, 2)), TextConfig(316))
			}
			t := &trainer{ps: ps, opt: grad.NewAdamW(ps, 1e-4), shards: parts}
			t.shard = func(*rand.Rand) func(tp *grad.Tape, s int) *grad.Var {
				return func(tp *grad.Tape, s int) *grad.Var {
					lo, hi := s*batch/parts, (s+1)*batch/parts
					xs := grad.Const(nn.From(x.Data[lo*256:hi*256], hi-lo, 4, 8, 8))
					cs := grad.Const(nn.From(ctx.Data[lo*77*cfg.CrossAttentionDim:hi*77*cfg.CrossAttentionDim], hi-lo, 77, cfg.CrossAttentionDim))
					if text != nil {
						cs = text.Forward(tp, ids[lo:hi]) // (b, 77, D)
					}
					return tp.Scale(tp.MSE(m.Forward(tp, xs, ts[lo:hi], cs), xs), float32(hi-lo)/batch)
				}
			}
			tapes := []*grad.Tape{}
			for range parts {
				tapes = append(tapes, grad.NewLocalTape())
			}
			cpu0 := cputime.Process().Seconds()
			for b.Loop() {
				ps.ZeroGrad()
				t.shardedStep(tapes, nil)
				t.opt.Step()
			}
			b.ReportMetric((cputime.Process().Seconds()-cpu0)/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(ps.Count()), "params") // after the loop, whose start drops reported metrics
		})
	}
}
