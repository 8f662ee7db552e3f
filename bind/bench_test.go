package bind

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/weights"
)

// sd15Small is SD 1.5's U-Net (unet.SD15: four levels, two resnets and
// transformers per level, 8 heads, a 768-wide context) at a fifth of its
// channels, which fits a shared two-core machine; the ratio of a steered
// step to a plain one is measured on it at a 32×32 latent.
func sd15Small() unet.Config {
	cfg := unet.SD15()
	cfg.BlockOutChannels = []int{64, 128, 256, 256}
	cfg.UseLinearProjection = true
	return cfg
}

// BenchmarkStep compares one plain guided sampling step of an SD 1.5-shaped
// U-Net with random weights (the inference U-Net on a batch of 2: the
// unconditional and conditional halves) with what --bind adds to a steered
// step (the grad U-Net's forward pass on the conditional half and the
// backward pass to the latent): go test -bench Step -benchtime 3x ./bind.
func BenchmarkStep(b *testing.B) {
	cfg := sd15Small()
	const side = 32
	ps := grad.NewParams()
	if _, err := sdmini.NewUNet(ps, rand.New(rand.NewPCG(1, 1)), cfg); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "unet.safetensors")
	if err := ps.Export(path, weights.F32, false); err != nil {
		b.Fatal(err)
	}
	src, err := weights.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	inf, err := unet.Load(src, cfg)
	if err != nil {
		b.Fatal(err)
	}
	syn, err := New(src, cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	randn := func(shape ...int) *nn.Tensor {
		t := nn.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64())
		}
		return t
	}
	x2, ctx2 := randn(2, 4, side, side), randn(2, 77, cfg.CrossAttentionDim)
	b.Run("plain", func(b *testing.B) {
		b.ReportMetric(unet.FLOPs(cfg, 2, side, side)/1e9, "GFLOP/op")
		for range b.N {
			if _, err := inf.Forward(x2, []float32{500, 500}, ctx2); err != nil {
				b.Fatal(err)
			}
		}
	})
	x1 := nn.From(x2.Data[:x2.Len()/2], 1, 4, side, side)
	ctx1 := nn.From(ctx2.Data[:ctx2.Len()/2], 1, 77, cfg.CrossAttentionDim)
	b.Run("bind", func(b *testing.B) {
		for range b.N {
			d, err := syn.steer(pipeline.BindStep{Cond: ctx1, Input: x1, Timestep: 500, Steps: 50}, []tokenGroup{{2, 3}, {6, 7}}, []int{1, 2, 3, 4, 5, 6, 7})
			if err != nil || d == nil {
				b.Fatal(d, err)
			}
		}
	})
}
