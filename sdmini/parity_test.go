package sdmini

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// perturb adds noise to every parameter, so that norms and biases are not
// at their trivial init and every tensor's role is tested.
func perturb(ps *grad.Params, r *rand.Rand, std float32) {
	for _, name := range ps.Names() {
		for i := range ps.Get(name).Value.Data {
			ps.Get(name).Value.Data[i] += float32(r.NormFloat64()) * std
		}
	}
}

// export writes ps as an F32 safetensors file and opens it.
func export(t *testing.T, ps *grad.Params) *weights.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.safetensors")
	if err := ps.Export(p, weights.F32, false); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// compare checks every element of got against want, relative to want's
// largest magnitude.
func compare(t *testing.T, what string, got, want *nn.Tensor) {
	t.Helper()
	if !nn.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	var maxAbs, maxRef float64
	for i, w := range want.Data {
		maxAbs = max(maxAbs, math.Abs(float64(got.Data[i]-w)))
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	rel := maxAbs / maxRef
	t.Logf("%s %v: max abs error %.3g, relative to max %.3g (max |ref| %.3g)", what, want.Shape, maxAbs, rel, maxRef)
	if !(rel <= 1e-5) {
		t.Errorf("%s: max error %.3g relative to max, want ≤ 1e-5", what, rel)
	}
}

func TestTextParity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cfg := TextConfig(300)
	ps := grad.NewParams()
	m, err := NewText(ps, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	perturb(ps, r, 0.05)
	ref, err := clip.Load(export(t, ps), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([][]int, 3)
	for b := range ids {
		ids[b] = make([]int, cfg.Positions)
		for i := range ids[b] {
			ids[b][i] = r.IntN(cfg.VocabSize - 2)
		}
		ids[b][0], ids[b][5+b] = cfg.BOS, cfg.EOS
	}
	tp := grad.NewTape()
	got := m.Forward(tp, ids)
	want, err := ref.Encode(ids, clip.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "text encoder", got.Value, want)
	compare(t, "pooled", Pool(tp, ids, got).Value, clip.Pool(ids, want))
}

func TestVAEParity(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cfg := VAEConfig()
	cfg.ScalingFactor = 0.7
	ps := grad.NewParams()
	m, err := NewVAE(ps, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	perturb(ps, r, 0.05)
	ref, err := vae.Load(export(t, ps), cfg)
	if err != nil {
		t.Fatal(err)
	}
	x := grad.Normal(r, 0.5, 2, 3, ImageSize, ImageSize) // (2, 3, 64, 64)
	tp := grad.NewTape()
	moments := m.Encode(tp, grad.Const(x))
	dist, err := ref.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	lat := cfg.LatentChannels
	compare(t, "encoder mean", selectChannels(tp, moments, 0, lat).Value, dist.Mean)
	compare(t, "encoder logvar", selectChannels(tp, moments, lat, lat).Value, dist.LogVar)

	z := grad.Normal(r, 1, 2, lat, ImageSize/8, ImageSize/8) // (2, 4, 8, 8)
	want, err := ref.Decode(z)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "decoder", m.Decode(tp, grad.Const(z)).Value, want)
}

func TestUNetParity(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name string
		cfg  func() unet.Config
	}{
		{"sdmini", UNetConfig},
		{"two layers, all cross-attention", func() unet.Config {
			c := UNetConfig()
			c.BlockOutChannels = []int{32, 64}
			c.LayersPerBlock = 2
			c.DownBlockTypes = []string{unet.CrossAttnDownBlock2D, unet.CrossAttnDownBlock2D}
			c.UpBlockTypes = []string{unet.CrossAttnUpBlock2D, unet.CrossAttnUpBlock2D}
			c.Heads = []int{2, 4}
			c.TransformerLayersPerBlock = []int{1, 2}
			c.NormNumGroups = 8
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			ps := grad.NewParams()
			m, err := NewUNet(ps, r, cfg)
			if err != nil {
				t.Fatal(err)
			}
			perturb(ps, r, 0.02)
			ref, err := unet.Load(export(t, ps), cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := grad.Normal(r, 1, 2, 4, 8, 8)                     // (2, 4, 8, 8)
			ctx := grad.Normal(r, 1, 2, 77, cfg.CrossAttentionDim) // (2, 77, D)
			ts := []float32{981, 37}
			want, err := ref.Forward(x, ts, ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Forward(grad.NewTape(), grad.Const(x), ts, grad.Const(ctx))
			compare(t, "unet", got.Value, want)
		})
	}
}
