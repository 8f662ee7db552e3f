package clip_test

import (
	"fmt"
	"math"
	"sort"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// A tiny text encoder with made-up weights, so the example runs anywhere. A
// real one loads from a checkpoint: clip.LoadFile("text_encoder/model.safetensors"),
// with ids from tokenizer.EncodePadded(prompt, 77, tokenizer.PadSD1).
func ExampleModel_Encode() {
	cfg := clip.Config{
		VocabSize: 10, Positions: 6, Width: 8, MLPWidth: 32, Heads: 2, Layers: 2,
		Activation: clip.QuickGELU, LayerNormEps: 1e-5,
		BOS: 8, EOS: 9, Pad: 9,
	}
	m, err := clip.Load(randomWeights(cfg), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := [][]int{
		{8, 3, 1, 4, 9, 9}, // start, three tokens, end, padding
		{8, 9, 9, 9, 9, 9}, // the empty prompt
	}
	ctx, err := m.Encode(ids, clip.EncodeOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("context", ctx.Shape)
	fmt.Printf("first token: %.3f\n", ctx.Data[:4])
	pooled := clip.Pool(ids, ctx) // the end tokens' rows
	fmt.Println("pooled", pooled.Shape)
	// Output:
	// context [2 6 8]
	// first token: [-0.527 -1.610 0.275 0.767]
	// pooled [2 8]
}

// memory is a weights.Source held in memory.
type memory map[string]*nn.Tensor

func (m memory) Names() []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m memory) Info(name string) (weights.Info, bool) {
	t, ok := m[name]
	if !ok {
		return weights.Info{}, false
	}
	return weights.Info{Name: name, DType: weights.F32, Shape: t.Shape}, true
}

func (m memory) Tensor(name string) (*nn.Tensor, error) {
	t, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, weights.ErrNotFound)
	}
	return t, nil
}

// randomWeights returns every tensor of cfg's text encoder under
// transformers' names, filled from a fixed pseudo-random sequence: linear
// weights of scale 1/√fan_in, LayerNorm weights near 1, small biases.
func randomWeights(cfg clip.Config) memory {
	state := uint64(1)
	uniform := func() float32 { // in [-1, 1)
		state = state*6364136223846793005 + 1442695040888963407
		return float32(int32(state>>32)) / (1 << 31)
	}
	fill := func(center, scale float32, shape ...int) *nn.Tensor {
		t := nn.New(shape...)
		for i := range t.Data {
			t.Data[i] = center + scale*uniform()
		}
		return t
	}
	d, f := cfg.Width, cfg.MLPWidth
	w := memory{
		"text_model.embeddings.token_embedding.weight":    fill(0, 0.3, cfg.VocabSize, d),
		"text_model.embeddings.position_embedding.weight": fill(0, 0.3, cfg.Positions, d),
		"text_model.final_layer_norm.weight":              fill(1, 0.1, d),
		"text_model.final_layer_norm.bias":                fill(0, 0.05, d),
	}
	linear := func(name string, out, in int) {
		w[name+".weight"] = fill(0, float32(math.Sqrt(3/float64(in))), out, in)
		w[name+".bias"] = fill(0, 0.05, out)
	}
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("text_model.encoder.layers.%d.", i)
		for _, ln := range []string{"layer_norm1", "layer_norm2"} {
			w[p+ln+".weight"] = fill(1, 0.1, d)
			w[p+ln+".bias"] = fill(0, 0.05, d)
		}
		for _, proj := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			linear(p+"self_attn."+proj, d, d)
		}
		linear(p+"mlp.fc1", f, d)
		linear(p+"mlp.fc2", d, f)
	}
	return w
}
