package layers

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
)

func TestNames(t *testing.T) {
	ps := grad.NewParams()
	b := NewBuilder(ps, rand.New(rand.NewPCG(1, 1)))
	NewResnetBlock2D(b.Sub("down_blocks.1.resnets.0"), 4, 6, 8, 2, 1e-5)
	NewTimestepEmbedding(b.Sub("time_embedding"), 4, 16)
	NewResnetBlock2D(b.Sub("mid_block.resnets.0"), 6, 6, 0, 2, 1e-6)
	NewEmbedding(b.Sub("embeddings.token_embedding"), 10, 4, 0.02)
	want := []string{
		"down_blocks.1.resnets.0.norm1.weight", "down_blocks.1.resnets.0.norm1.bias",
		"down_blocks.1.resnets.0.conv1.weight", "down_blocks.1.resnets.0.conv1.bias",
		"down_blocks.1.resnets.0.time_emb_proj.weight", "down_blocks.1.resnets.0.time_emb_proj.bias",
		"down_blocks.1.resnets.0.norm2.weight", "down_blocks.1.resnets.0.norm2.bias",
		"down_blocks.1.resnets.0.conv2.weight", "down_blocks.1.resnets.0.conv2.bias",
		"down_blocks.1.resnets.0.conv_shortcut.weight", "down_blocks.1.resnets.0.conv_shortcut.bias",
		"time_embedding.linear_1.weight", "time_embedding.linear_1.bias",
		"time_embedding.linear_2.weight", "time_embedding.linear_2.bias",
		"mid_block.resnets.0.norm1.weight", "mid_block.resnets.0.norm1.bias",
		"mid_block.resnets.0.conv1.weight", "mid_block.resnets.0.conv1.bias",
		"mid_block.resnets.0.norm2.weight", "mid_block.resnets.0.norm2.bias",
		"mid_block.resnets.0.conv2.weight", "mid_block.resnets.0.conv2.bias",
		"embeddings.token_embedding.weight",
	}
	if got := ps.Names(); !slices.Equal(got, want) {
		t.Errorf("names:\n got %q\nwant %q", got, want)
	}
}

// randomize replaces every parameter by N(0, 0.3²) values, so that norms and
// biases are not at their trivial initial values.
func randomize(ps *grad.Params, r *rand.Rand) {
	for _, name := range ps.Names() {
		v := ps.Get(name).Value
		copy(v.Data, grad.Normal(r, 0.3, v.Shape...).Data)
	}
}

// compare reports the max abs error of got against want and that error
// relative to max |want|, failing above tol relative.
func compare(t *testing.T, what string, got, want *nn.Tensor, tol float64) {
	t.Helper()
	if !nn.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	var maxErr, maxRef float64
	for i, w := range want.Data {
		maxErr = max(maxErr, math.Abs(float64(got.Data[i]-w)))
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	t.Logf("%s: max abs err %.2e, relative to max |ref| %.2e: %.2e", what, maxErr, maxRef, maxErr/maxRef)
	if maxErr > tol*maxRef {
		t.Errorf("%s: max abs err %.2e exceeds %.0e × max |ref| %.2e", what, maxErr, tol, maxRef)
	}
}

// TestParity checks that the blocks compute what the inference blocks of
// packages unet and vae compute with the same weights, for every element.
func TestParity(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for _, c := range []struct {
		name    string
		in, out int
	}{{"same channels", 8, 8}, {"shortcut", 4, 8}} {
		t.Run(c.name, func(t *testing.T) {
			ps := grad.NewParams()
			b := NewBuilder(ps, r)
			g := NewResnetBlock2D(b, c.in, c.out, 12, 4, 1e-5)
			randomize(ps, r)
			ref := &unet.ResnetBlock2D{
				Norm1:       layer.GroupNorm{Weight: g.Norm1.Weight.Value, Bias: g.Norm1.Bias.Value, Groups: 4, Eps: 1e-5},
				Conv1:       layer.Conv2d{Weight: g.Conv1.Weight.Value, Bias: g.Conv1.Bias.Value, Stride: 1, Pad: 1},
				TimeEmbProj: layer.Linear{Weight: g.TimeEmbProj.Weight.Value, Bias: g.TimeEmbProj.Bias.Value},
				Norm2:       layer.GroupNorm{Weight: g.Norm2.Weight.Value, Bias: g.Norm2.Bias.Value, Groups: 4, Eps: 1e-5},
				Conv2:       layer.Conv2d{Weight: g.Conv2.Weight.Value, Bias: g.Conv2.Bias.Value, Stride: 1, Pad: 1},
			}
			if g.ConvShortcut != nil {
				ref.ConvShortcut = &layer.Conv2d{Weight: g.ConvShortcut.Weight.Value, Bias: g.ConvShortcut.Bias.Value, Stride: 1, Pad: 0}
			}
			x, emb := grad.Normal(r, 1, 2, c.in, 6, 5), grad.Normal(r, 1, 2, 12)
			got := g.Forward(grad.NewTape(), grad.Const(x), grad.Const(emb)).Value
			want := ref.Forward(x.Clone(), emb.Clone())
			compare(t, "ResnetBlock2D", got, want, 1e-5)
		})
	}
	t.Run("without timestep embedding", func(t *testing.T) {
		ps := grad.NewParams()
		g := NewResnetBlock2D(NewBuilder(ps, r), 4, 8, 0, 2, 1e-6)
		randomize(ps, r)
		ref := &vae.Resnet{
			Norm1:        layer.GroupNorm{Weight: g.Norm1.Weight.Value, Bias: g.Norm1.Bias.Value, Groups: 2, Eps: 1e-6},
			Conv1:        layer.Conv2d{Weight: g.Conv1.Weight.Value, Bias: g.Conv1.Bias.Value, Stride: 1, Pad: 1},
			Norm2:        layer.GroupNorm{Weight: g.Norm2.Weight.Value, Bias: g.Norm2.Bias.Value, Groups: 2, Eps: 1e-6},
			Conv2:        layer.Conv2d{Weight: g.Conv2.Weight.Value, Bias: g.Conv2.Bias.Value, Stride: 1, Pad: 1},
			ConvShortcut: &layer.Conv2d{Weight: g.ConvShortcut.Weight.Value, Bias: g.ConvShortcut.Bias.Value, Stride: 1, Pad: 0},
		}
		x := grad.Normal(r, 1, 2, 4, 6, 5)
		got := g.Forward(grad.NewTape(), grad.Const(x), nil).Value
		compare(t, "ResnetBlock2D without time_emb_proj", got, ref.Forward(x.Clone()), 1e-5)
	})
	ps := grad.NewParams()
	e := NewTimestepEmbedding(NewBuilder(ps, r), 8, 32)
	randomize(ps, r)
	ref := &unet.TimestepEmbedding{
		Linear1: layer.Linear{Weight: e.Linear1.Weight.Value, Bias: e.Linear1.Bias.Value},
		Linear2: layer.Linear{Weight: e.Linear2.Weight.Value, Bias: e.Linear2.Bias.Value},
	}
	proj := nn.TimestepEmbedding([]float32{0, 17, 999}, 8, true, 0, 10000) // (3, 8)
	compare(t, "TimestepEmbedding", e.Forward(grad.NewTape(), grad.Const(proj)).Value, ref.Forward(proj), 1e-5)
}

// TestGradients checks the gradient of a ResnetBlock2D with a shortcut and
// a TimestepEmbedding feeding it, followed by a ResnetBlock2D without
// either, for every parameter and input element,
// against central finite differences of the float32 forward (ε = 1e-2, as in
// package grad's op tests).
func TestGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ps := grad.NewParams()
	b := NewBuilder(ps, r)
	temb := NewTimestepEmbedding(b.Sub("time_embedding"), 4, 6)
	res := NewResnetBlock2D(b.Sub("resnet"), 3, 4, 6, 1, 1e-5)
	plain := NewResnetBlock2D(b.Sub("plain"), 4, 4, 0, 2, 1e-6) // no timestep embedding, no shortcut
	randomize(ps, r)
	x := ps.Add("x", grad.Normal(r, 1, 2, 3, 4, 3)) // the input, as a parameter so it gets a gradient
	proj := grad.Const(nn.TimestepEmbedding([]float32{3, 500}, 4, true, 0, 10000))
	weight := grad.Const(grad.Normal(r, 1, 2, 4, 4, 3)) // L = mean(out ⊙ weight)

	loss := func(tp *grad.Tape) *grad.Var {
		emb := tp.SiLU(temb.Forward(tp, proj))
		return tp.Mean(tp.Mul(plain.Forward(tp, res.Forward(tp, x, emb), nil), weight))
	}
	tp := grad.NewTape()
	tp.Backward(loss(tp))
	const eps = 1e-2
	for _, name := range ps.Names() {
		v := ps.Get(name)
		var maxErr, maxRef float64
		for i, orig := range v.Value.Data {
			v.Value.Data[i] = orig + eps
			lp := float64(loss(grad.NewTape()).Value.Data[0])
			v.Value.Data[i] = orig - eps
			lm := float64(loss(grad.NewTape()).Value.Data[0])
			v.Value.Data[i] = orig
			num := (lp - lm) / (2 * eps)
			maxErr = max(maxErr, math.Abs(float64(v.Grad.Data[i])-num))
			maxRef = max(maxRef, math.Abs(num))
		}
		rel := maxErr / maxRef
		if rel > 1e-2 {
			t.Errorf("%s: gradient off by %.2e relative (max abs err %.2e, max |grad| %.2e)", name, rel, maxErr, maxRef)
		} else {
			t.Logf("%s: max abs err %.2e, relative %.2e", name, maxErr, rel)
		}
	}
}

// TestEmbedding checks that an Embedding draws its table from the builder's
// source as grad.Normal does and that Forward picks rows, repeated ids
// included.
func TestEmbedding(t *testing.T) {
	ps := grad.NewParams()
	e := NewEmbedding(NewBuilder(ps, rand.New(rand.NewPCG(7, 8))), 5, 3, 0.02)
	want := grad.Normal(rand.New(rand.NewPCG(7, 8)), 0.02, 5, 3)
	if !nn.SameShape(e.Weight.Value.Shape, want.Shape) || !slices.Equal(e.Weight.Value.Data, want.Data) {
		t.Fatalf("weight %v %v, want %v %v", e.Weight.Value.Shape, e.Weight.Value.Data, want.Shape, want.Data)
	}
	ids := []int{4, 0, 4}
	got := e.Forward(grad.NewTape(), ids).Value // (3) -> (3, 3)
	for i, id := range ids {
		if row := got.Data[i*3 : i*3+3]; !slices.Equal(row, want.Data[id*3:id*3+3]) {
			t.Errorf("row %d (id %d) = %v, want %v", i, id, row, want.Data[id*3:id*3+3])
		}
	}
}
