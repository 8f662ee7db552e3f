package grad

import (
	"math/rand/v2"
	"testing"
)

// benchStep times one forward and backward pass of f and reports GFLOP/s
// for flops, the floating-point operations of the matrix products executed.
func benchStep(b *testing.B, flops float64, shapes [][]int, f func(tp *Tape, in []*Var) *Var) {
	r := rand.New(rand.NewPCG(1, 1))
	in := make([]*Var, len(shapes))
	for i, s := range shapes {
		in[i] = Param(Normal(r, 1, s...))
	}
	tp := NewTape()
	var seed []float32
	b.ResetTimer()
	for b.Loop() {
		tp.Reset()
		for _, v := range in {
			v.ZeroGrad()
		}
		out := f(tp, in)
		if seed == nil {
			seed = Full(1, out.Value.Shape...).Data
		}
		tp.backward(out, seed)
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkConv3x3 is a 3×3 convolution 64 → 64 channels over a 32×32
// batch of 8, forward and backward: three products of 2·O·C·9·H·W·N flops.
func BenchmarkConv3x3(b *testing.B) {
	const n, c, o, h, w = 8, 64, 64, 32, 32
	flops := 3 * 2.0 * o * c * 9 * h * w * n
	benchStep(b, flops, [][]int{{n, c, h, w}, {o, c, 3, 3}, {o}}, func(tp *Tape, in []*Var) *Var {
		return tp.Conv2d(in[0], in[1], in[2], 1, 1)
	})
}

// BenchmarkAttention is self-attention over 256 tokens (a 16×16 latent),
// batch 2, 8 heads of 40 (SD 1.5's first level), forward and backward:
// per head 2 products of 2·L²·Dh flops forward and 5 backward (the scores
// are recomputed).
func BenchmarkAttention(b *testing.B) {
	const bs, l, heads, dim = 2, 256, 8, 320
	flops := 7 * 2.0 * bs * l * l * dim
	benchStep(b, flops, [][]int{{bs, l, dim}, {bs, l, dim}, {bs, l, dim}}, func(tp *Tape, in []*Var) *Var {
		return tp.Attention(in[0], in[1], in[2], heads, false)
	})
}

// BenchmarkResBlock is a ResNet block of 64 channels over a 32×32 batch of
// 8 (norm, SiLU, conv, time embedding, norm, SiLU, conv, skip), forward and
// backward; flops count the two convolutions only.
func BenchmarkResBlock(b *testing.B) {
	const n, c, h, w, temb = 8, 64, 32, 32, 256
	flops := 2 * 3 * 2.0 * c * c * 9 * h * w * n
	benchStep(b, flops, [][]int{{n, c, h, w}, {c, c, 3, 3}, {c}, {c, c, 3, 3}, {c}, {n, temb}, {c, temb}, {c}, {c}, {c}},
		func(tp *Tape, in []*Var) *Var {
			hs := tp.SiLU(tp.GroupNorm(in[0], 32, in[8], in[9], 1e-5))
			hs = tp.Conv2d(hs, in[1], in[2], 1, 1)
			hs = tp.AddNC(hs, tp.Linear(tp.SiLU(in[5]), in[6], in[7]))
			hs = tp.SiLU(tp.GroupNorm(hs, 32, in[8], in[9], 1e-5))
			hs = tp.Conv2d(hs, in[3], in[4], 1, 1)
			return tp.Add(in[0], hs)
		})
}

// BenchmarkTransformer is a U-Net transformer block's self-attention and
// GEGLU feed-forward (LayerNorm, q/k/v/out projections, attention, GEGLU
// 320 → 2·1280 → 320) over 256 tokens, batch 2, 8 heads; flops count the
// matrix products (projections 3× forward, attention as BenchmarkAttention).
func BenchmarkTransformer(b *testing.B) {
	const bs, l, d, ff, heads = 2, 256, 320, 1280, 8
	rows := float64(bs * l)
	flops := 3*2*rows*(4*d*d+d*2*ff+ff*d) + 7*2.0*bs*l*l*d
	benchStep(b, flops, [][]int{{bs, l, d}, {d}, {d}, {d, d}, {d, d}, {d, d}, {d, d}, {2 * ff, d}, {d, ff}},
		func(tp *Tape, in []*Var) *Var {
			x := in[0]
			h := tp.LayerNorm(x, in[1], in[2], 1e-5)
			q, k, v := tp.Linear(h, in[3], nil), tp.Linear(h, in[4], nil), tp.Linear(h, in[5], nil)
			x = tp.Add(x, tp.Linear(tp.Attention(q, k, v, heads, false), in[6], nil))
			h = tp.LayerNorm(x, in[1], in[2], 1e-5)
			h = tp.Linear(tp.GEGLU(tp.Linear(h, in[7], nil)), in[8], nil) // (B, L, 320) -> (B, L, 2560) -> (B, L, 1280) -> (B, L, 320)
			return tp.Add(x, h)
		})
}

// BenchmarkAdamW times AdamW's update of 1 Mi values on one goroutine, with
// the AVX2 kernel and with the Go loop it matches bit for bit.
func BenchmarkAdamW(b *testing.B) {
	const n = 1 << 20
	r := rand.New(rand.NewPCG(2, 2))
	theta, g, m, v := Normal(r, 1, n), Normal(r, 1, n), Normal(r, 0.1, n), Normal(r, 0.1, n)
	for i, x := range v.Data {
		v.Data[i] = x * x
	}
	k := &adamwFactors{decay: 0.99999, c1: 0.1, b2: 0.999, c2: 1 - float32(0.999), bc2Sqrt: 0.0447, eps: 1e-8, stepSize: 1e-3}
	for _, tc := range []struct {
		name string
		f    func(theta, g, m, v []float32, k *adamwFactors)
	}{{"simd", adamw}, {"go", adamwGo}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(7 * 4 * n) // four read, three written
			for b.Loop() {
				tc.f(theta.Data, g.Data, m.Data, v.Data, k)
			}
		})
	}
}
