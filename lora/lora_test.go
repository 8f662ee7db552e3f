package lora_test

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/weights"
)

// adapters are the reference LoRA files and the merged weights each gives.
var adapters = []struct{ file, merged string }{
	{"kohya.safetensors", "kohya"},
	{"locon.safetensors", "locon"},
	{"ldm_names.safetensors", "ldm_names"},
	{"peft.safetensors", "peft"},
	{"peft_diffusers_names.safetensors", "peft"},
	{"loha.safetensors", "loha"},
	{"lokr.safetensors", "lokr"},
}

// loadTiny loads the reference data's tiny SD1 pipeline in fp32.
func loadTiny(t *testing.T) *pipeline.Model {
	t.Helper()
	dir := testdata.Dir(t, "pipeline")
	m, err := pipeline.Load(filepath.Join(dir, "sd_tiny.safetensors"), pipeline.LoadOptions{Config: filepath.Join(dir, "diffusers")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// snapshot copies every weight's values.
func snapshot(ws map[string]*nn.Tensor) map[string][]float32 {
	out := map[string][]float32{}
	for n, t := range ws {
		out[n] = append([]float32(nil), t.Floats()...)
	}
	return out
}

// Every adapter merged at multiplier 1 gives the reference's merged weights
// (≤ 1e-6 of max |W|), touches no other weight, and Undo restores the model
// bit for bit.
func TestMergedWeights(t *testing.T) {
	dir := testdata.Dir(t, "lora")
	m := loadTiny(t)
	ix := lora.NewIndex(m.UNet.Weights, m.Text.Weights)
	before := snapshot(m.UNet.Weights)
	for _, c := range adapters {
		t.Run(c.file, func(t *testing.T) {
			a, err := lora.Open(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Unknown) > 0 {
				t.Errorf("unknown tensors: %v", a.Unknown)
			}
			ref, err := weights.Open(filepath.Join(dir, "merged", c.merged+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			p, err := lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 1}}, false)
			if err != nil {
				t.Fatal(err)
			}
			if p.Weights != len(ref.Names()) {
				t.Errorf("changed %d weights, the reference %d", p.Weights, len(ref.Names()))
			}
			for _, name := range ref.Names() {
				want, err := ref.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				got := ix.Weight(name)
				if got == nil {
					t.Errorf("%s: not in the model's index", name)
					continue
				}
				compare(t, name, got.Floats(), want.Data, 1e-6)
			}
			p.Undo()
			for n, w := range m.UNet.Weights {
				for i, v := range w.Floats() {
					if v != before[n][i] {
						t.Fatalf("after Undo %s[%d] = %g, was %g", n, i, v, before[n][i])
					}
				}
			}
		})
	}
}

// compare fails when got and want differ by more than tol·max|want|.
func compare(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	var maxAbs, maxRef float64
	for i, w := range want {
		maxRef = max(maxRef, math.Abs(float64(w)))
		if d := math.Abs(float64(got[i] - w)); d > maxAbs || math.IsNaN(d) {
			maxAbs = d
		}
	}
	if maxAbs > tol*maxRef || math.IsNaN(maxAbs) {
		t.Errorf("%s: max |Δ| %.3g > %.1g · max|W| %.3g", what, maxAbs, tol, maxRef)
	}
}

// Two adapters add up: W + 0.5·Δ_kohya + 1·Δ_loha equals the two merged
// references combined.
func TestTwoAdapters(t *testing.T) {
	dir := testdata.Dir(t, "lora")
	m := loadTiny(t)
	ix := lora.NewIndex(m.UNet.Weights, m.Text.Weights)
	base := snapshot(m.UNet.Weights)
	for n, v := range snapshot(m.Text.Weights) {
		base[n] = v
	}
	var uses []lora.Use
	want := map[string][]float64{}
	for _, c := range []struct {
		name string
		m    float64
	}{{"kohya", 0.5}, {"loha", 1}} {
		a, err := lora.Open(filepath.Join(dir, c.name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		uses = append(uses, lora.Use{Adapter: a, Multiplier: c.m})
		ref, err := weights.Open(filepath.Join(dir, "merged", c.name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ref.Names() {
			r, _ := ref.Tensor(n)
			w := base[strings.TrimPrefix(strings.TrimPrefix(n, lora.UNetPrefix), lora.TextPrefix)]
			if want[n] == nil {
				want[n] = make([]float64, len(w))
				for i, v := range w {
					want[n][i] = float64(v)
				}
			}
			for i, v := range r.Data {
				want[n][i] += c.m * (float64(v) - float64(w[i]))
			}
		}
		ref.Close()
	}
	p, err := lora.Apply(ix, uses, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Undo()
	for n, w := range want {
		w32 := make([]float32, len(w))
		for i, v := range w {
			w32[i] = float32(v)
		}
		compare(t, n, ix.Weight(n).Floats(), w32, 1e-6)
	}
}

// Wrong adapters fail with the file and the tensor named, or are skipped.
func TestApplyErrors(t *testing.T) {
	dir := testdata.Dir(t, "lora")
	m := loadTiny(t)
	ix := lora.NewIndex(m.UNet.Weights, m.Text.Weights)
	a, err := lora.Open(filepath.Join(dir, "kohya.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// A module the model lacks, and one whose shape is another model's.
	a.Modules = append(a.Modules,
		&lora.Module{Key: "lora_unet_no_such_block", Kind: lora.LoRA, Parts: a.Modules[0].Parts, Names: map[string]string{"down": "lora_unet_no_such_block.lora_down.weight"}},
		&lora.Module{Key: a.Modules[1].Key, Kind: lora.LoRA, Parts: map[string]*nn.Tensor{"down": nn.New(4, 1024), "up": nn.New(32, 4)}, Names: map[string]string{"down": "x.lora_down.weight", "up": "x.lora_up.weight"}})
	_, err = lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 1}}, false)
	if err == nil || !strings.Contains(err.Error(), "kohya.safetensors") || !strings.Contains(err.Error(), "lora_unet_no_such_block.lora_down.weight") || !strings.Contains(err.Error(), "x.lora_down.weight") {
		t.Fatalf("err = %v, want one naming the file and both tensors", err)
	}
	p, err := lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 1}}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Undo()
	if p.Skipped != 2 || p.Weights != len(a.Modules)-2 {
		t.Errorf("skipped %d, changed %d; want 2 and %d", p.Skipped, p.Weights, len(a.Modules)-2)
	}
}

// The three embedding formats load with their trigger words, and their
// vectors are the rows the reference spliced into the prompt at emb_slots.
func TestEmbeddings(t *testing.T) {
	dir := testdata.Dir(t, "lora")
	for _, c := range []struct {
		file, trigger, run string
		n                  int
	}{
		{"emb_a1111.pt", "emb_a1111", "emb_a1111_euler_4", 2},
		{"emb_st.safetensors", "emb_st", "emb_st_euler_4", 3},
		{"learned_embeds.bin", "<toy>", "emb_toy_euler_4", 1},
	} {
		t.Run(c.file, func(t *testing.T) {
			embs, err := lora.OpenEmbedding(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(embs) != 1 || embs[0].Trigger != c.trigger || embs[0].Vectors.Shape[0] != c.n || embs[0].Vectors.Shape[1] != 32 {
				t.Fatalf("got %d embeddings, first %q %v; want %q (%d, 32)", len(embs), embs[0].Trigger, embs[0].Vectors.Shape, c.trigger, c.n)
			}
			ref, err := weights.Open(filepath.Join(dir, "runs", c.run+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			slots, _, err := ref.Int64s("emb_slots")
			if err != nil {
				t.Fatal(err)
			}
			rows, err := ref.Tensor("w32.cond_input_embeds") // (1, 77, 32)
			if err != nil {
				t.Fatal(err)
			}
			if len(slots) != c.n {
				t.Fatalf("emb_slots %v, want %d", slots, c.n)
			}
			for k, s := range slots {
				compare(t, fmt.Sprintf("slot %d", s), embs[0].Vectors.Data[k*32:(k+1)*32], rows.Data[int(s)*32:(int(s)+1)*32], 0)
			}
		})
	}
	// A LoRA file is no embedding.
	if _, err := lora.OpenEmbedding(filepath.Join(dir, "kohya.safetensors")); err == nil {
		t.Error("kohya.safetensors read as an embedding")
	}
}

// Use.UNet splits the multipliers: kohya at text encoder 1, U-Net 0 changes
// the text encoder's weights as the reference and no U-Net weight.
func TestSplitMultiplier(t *testing.T) {
	dir := testdata.Dir(t, "lora")
	m := loadTiny(t)
	ix := lora.NewIndex(m.UNet.Weights, m.Text.Weights)
	a, err := lora.Open(filepath.Join(dir, "kohya.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	zero := 0.0
	p, err := lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 1, UNet: &zero}}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Undo()
	ref, err := weights.Open(filepath.Join(dir, "merged", "kohya.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	te := 0
	for _, n := range ref.Names() {
		if strings.HasPrefix(n, lora.TextPrefix) {
			te++
			want, _ := ref.Tensor(n)
			compare(t, n, ix.Weight(n).Floats(), want.Data, 1e-6)
		}
	}
	if p.Weights != te {
		t.Errorf("changed %d weights, want the text encoder's %d", p.Weights, te)
	}
}

// Apply on a half-precision weight keeps it half precision and calls the
// index's Release once the weights are read, for a memory-mapped model to
// give their pages back.
func TestApplyRelease(t *testing.T) {
	w := nn.From([]float32{1, 0, 0, 1}, 2, 2).ToHalf() // (out, in)
	ix := lora.NewIndex(map[string]*nn.Tensor{"mid_block.attentions.0.proj_in.weight": w}, nil)
	released := 0
	ix.Release = func() { released++ }
	a := &lora.Adapter{Name: "tiny", Modules: []*lora.Module{{
		Key:   "lora_unet_mid_block_attentions_0_proj_in",
		Kind:  lora.LoRA,
		Parts: map[string]*nn.Tensor{"down": nn.From([]float32{1, 2}, 1, 2), "up": nn.From([]float32{2, 0}, 2, 1)},
	}}}
	p, err := lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 0.5}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(w.Floats()); w.Half == nil || got != "[2 2 0 1]" || released != 1 || p.Bytes != 8 {
		t.Errorf("merged %s (half %v), released %d times, %d bytes; want [2 2 0 1], half, 1, 8", got, w.Half != nil, released, p.Bytes)
	}
	p.Undo()
	if got := fmt.Sprint(w.Floats()); got != "[1 0 0 1]" {
		t.Errorf("undone: %s", got)
	}
}
