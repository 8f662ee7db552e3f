package clip_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// tolerance bounds the absolute error against transformers' float32 outputs;
// the reference's README measures its own float32 noise at ~1e-6.
const tolerance = 1e-5

// reference holds one config folder's outputs.safetensors.
type reference struct {
	file *weights.File
	ids  [][]int
}

func openReference(t *testing.T, dir string) *reference {
	t.Helper()
	f, err := weights.Open(filepath.Join(dir, "outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	flat, shape, err := f.Int64s("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([][]int, shape[0])
	for b := range ids {
		ids[b] = make([]int, shape[1])
		for i := range ids[b] {
			ids[b][i] = int(flat[b*shape[1]+i])
		}
	}
	return &reference{file: f, ids: ids}
}

func (r *reference) tensor(t *testing.T, name string) *nn.Tensor {
	t.Helper()
	x, err := r.file.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// compare checks every element of got against want and returns the max
// absolute error, and that error relative to the largest |want|.
func compare(t *testing.T, name string, got, want *nn.Tensor) (maxAbs, rel float64) {
	t.Helper()
	if !nn.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
	}
	var maxRef float64
	for i, w := range want.Data {
		maxAbs = max(maxAbs, math.Abs(float64(got.Data[i])-float64(w)))
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	if !(maxAbs <= tolerance) {
		t.Errorf("%s: max abs error %.3g (relative to max %.3g), want ≤ %g", name, maxAbs, maxAbs/maxRef, tolerance)
	}
	return maxAbs, maxAbs / maxRef
}

// TestParity compares every output of the reference (each hidden state,
// last_hidden_state, pooler_output, penultimate_normed) for both configs,
// every weight file and dtype, and the single-file layouts.
func TestParity(t *testing.T) {
	for _, tc := range []struct {
		config, file, set string
	}{
		{"sd1", "model.safetensors", "w32"},
		{"sd1", "model.fp16.safetensors", "w16"},
		{"sd1", "model.bf16.safetensors", "wbf16"},
		{"sd1", "sd1_single_file_names.fp16.safetensors", "w16"},
		{"sd2", "model.safetensors", "w32"},
		{"sd2", "model.fp16.safetensors", "w16"},
		{"sd2", "model.bf16.safetensors", "wbf16"},
		{"sd2", "sd2_openclip_names.fp16.safetensors", "w16"},
	} {
		t.Run(tc.config+"/"+tc.file, func(t *testing.T) {
			dir := testdata.Dir(t, "clip/"+tc.config)
			ref := openReference(t, dir)
			m := loadWithConfig(t, dir, tc.file)
			layers := m.Config.Layers
			var worst, worstRel float64
			check := func(name string, got *nn.Tensor) {
				abs, rel := compare(t, name, got, ref.tensor(t, tc.set+"."+name))
				worst, worstRel = max(worst, abs), max(worstRel, rel)
			}

			hs, err := m.HiddenStates(ref.ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != layers+1 {
				t.Fatalf("%d hidden states, want %d", len(hs), layers+1)
			}
			for k, h := range hs {
				check(fmt.Sprintf("hidden_states.%d", k), h)
			}

			last, err := m.Encode(ref.ids, clip.EncodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check("last_hidden_state", last)

			pen, err := m.Encode(ref.ids, clip.EncodeOptions{ClipSkip: 2})
			if err != nil {
				t.Fatal(err)
			}
			check("penultimate_normed", pen)

			pooled, err := m.Pooled(ref.ids)
			if err != nil {
				t.Fatal(err)
			}
			check("pooler_output", pooled)
			t.Logf("%s, all %d outputs: max abs error %.3g, relative to max %.3g", tc.set, len(hs)+3, worst, worstRel)
		})
	}
}

// loadWithConfig loads dir/file with the config of dir/config.json. (LoadFile
// would infer the config of a single-file layout from its shapes, and the
// tiny reference models have heads narrower than the 64 it assumes.)
func loadWithConfig(t *testing.T, dir, file string) *clip.Model {
	t.Helper()
	cfg, err := clip.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	src, closeFile, err := weights.OpenAny(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFile() })
	// fp16 files keep their matrices in half precision, read from the mapping.
	m, err := clip.LoadPrecision(src, cfg, weights.KeepStored)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLoadFile checks the config LoadFile picks for each kind of file.
func TestLoadFile(t *testing.T) {
	for _, tc := range []struct {
		file          string
		heads, layers int
	}{
		{"clip/sd1/model.fp16.safetensors", 4, 5},                  // config.json
		{"clip/sd1/sd1_single_file_names.fp16.safetensors", 1, 5},  // shapes: heads of width 64
		{"clip/sd2/model.bf16.safetensors", 4, 4},                  // config.json
		{"clip/sd2/sd2_openclip_names.fp16.safetensors", 1, 4 - 1}, // shapes, SD 2.x's penultimate layer
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			m, err := clip.LoadFile(testdata.Path(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if c := m.Config; c.Heads != tc.heads || c.Layers != tc.layers {
				t.Errorf("%d heads, %d layers; want %d, %d", c.Heads, c.Layers, tc.heads, tc.layers)
			}
		})
	}
	if _, err := clip.LoadFile(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestClipSkip checks that ClipSkip k is the final LayerNorm of hidden state
// L-k+1, for every k, exactly.
func TestClipSkip(t *testing.T) {
	cfg := tinyConfig()
	m, err := clip.Load(randomWeights(cfg), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int{{8, 3, 1, 4, 9, 9}, {8, 9, 9, 9, 9, 9}}
	hs, err := m.HiddenStates(ids)
	if err != nil {
		t.Fatal(err)
	}
	for skip := 0; skip <= cfg.Layers+1; skip++ {
		got, err := m.Encode(ids, clip.EncodeOptions{ClipSkip: skip})
		if err != nil {
			t.Fatal(err)
		}
		want := m.FinalLayerNorm.Forward(hs[cfg.Layers-max(skip, 1)+1])
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Fatalf("clip skip %d: element %d is %g, want %g", skip, i, got.Data[i], want.Data[i])
			}
		}
	}
	if _, err := m.Encode(ids, clip.EncodeOptions{ClipSkip: cfg.Layers + 2}); err == nil {
		t.Errorf("clip skip %d of %d layers: no error", cfg.Layers+2, cfg.Layers)
	}
}

// TestSD2Convention checks diffusers' way of running SD 2.x: a config with one
// layer fewer than the checkpoint returns the penultimate layer, normed.
func TestSD2Convention(t *testing.T) {
	dir := testdata.Dir(t, "clip/sd2")
	ref := openReference(t, dir)
	f, err := weights.Open(filepath.Join(dir, "sd2_openclip_names.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := clip.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers--
	m, err := clip.Load(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Encode(ref.ids, clip.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	abs, rel := compare(t, "penultimate_normed", got, ref.tensor(t, "w16.penultimate_normed"))
	t.Logf("max abs error %.3g, relative to max %.3g", abs, rel)
}

// TestPoolIndex checks the pooled row against the reference's pooled_index.
func TestPoolIndex(t *testing.T) {
	for _, config := range []string{"sd1", "sd2"} {
		ref := openReference(t, testdata.Dir(t, "clip/"+config))
		want, _, err := ref.file.Int64s("pooled_index")
		if err != nil {
			t.Fatal(err)
		}
		// A (B, L, 1) tensor holding each row's position finds the index.
		b, l := len(ref.ids), len(ref.ids[0])
		pos := nn.New(b, l, 1)
		for i := range pos.Data {
			pos.Data[i] = float32(i % l)
		}
		got := clip.Pool(ref.ids, pos)
		for i := range want {
			if int64(got.Data[i]) != want[i] {
				t.Errorf("%s prompt %d: pooled row %v, want %d", config, i, got.Data[i], want[i])
			}
		}
	}
}

// TestLayouts loads the same weights under every naming and checks that each
// load encodes exactly as transformers' naming does.
func TestLayouts(t *testing.T) {
	cfg := tinyConfig()
	base := randomWeights(cfg)
	rename := func(prefix string) memory {
		m := memory{}
		for n, x := range base {
			m[prefix+strings.TrimPrefix(n, "text_model.")] = x
		}
		return m
	}
	full := rename("cond_stage_model.transformer.text_model.")
	full["model.diffusion_model.out.0.weight"] = nn.New(4) // other models' tensors are not the text encoder's business
	ids := [][]int{{8, 3, 1, 4, 9, 9}, {8, 9, 9, 9, 9, 9}}
	encode := func(src weights.Source) (*nn.Tensor, error) {
		m, err := clip.Load(src, cfg)
		if err != nil {
			return nil, err
		}
		return m.Encode(ids, clip.EncodeOptions{})
	}
	want, err := encode(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  weights.Source
	}{
		{"position_ids", weights.Multi{base, positionIDs(t, "text_model.embeddings.position_ids", cfg.Positions)}},
		{"sd1 single file", full},
		{"sd1 single file, old names", rename("cond_stage_model.transformer.")},
		{"prefixed view", weights.Prefixed(full, "cond_stage_model.transformer.text_model.")},
		{"openclip", openCLIPNames(base, cfg, "cond_stage_model.model.")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encode(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.Data {
				if got.Data[i] != want.Data[i] {
					t.Fatalf("element %d is %g, want %g", i, got.Data[i], want.Data[i])
				}
			}
		})
	}
}

// positionIDs returns a safetensors file holding only the int64 (1, n)
// buffer [0, 1, …, n-1] that older transformers checkpoints carry.
func positionIDs(t *testing.T, name string, n int) *weights.File {
	t.Helper()
	header := fmt.Sprintf(`{%q:{"dtype":"I64","shape":[1,%d],"data_offsets":[0,%d]}}`, name, n, 8*n)
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	buf = append(buf, header...)
	for i := 0; i < n; i++ {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(i))
	}
	f, err := weights.Parse(name, buf)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// openCLIPNames stores w under OpenCLIP's names, q, k and v fused.
func openCLIPNames(w memory, cfg clip.Config, prefix string) memory {
	out := memory{
		prefix + "token_embedding.weight": w["text_model.embeddings.token_embedding.weight"],
		prefix + "positional_embedding":   w["text_model.embeddings.position_embedding.weight"],
		prefix + "ln_final.weight":        w["text_model.final_layer_norm.weight"],
		prefix + "ln_final.bias":          w["text_model.final_layer_norm.bias"],
		prefix + "text_projection":        nn.New(cfg.Width, cfg.Width),
		prefix + "logit_scale":            nn.New(),
	}
	for i := 0; i < cfg.Layers; i++ {
		from := fmt.Sprintf("text_model.encoder.layers.%d.", i)
		to := fmt.Sprintf("%stransformer.resblocks.%d.", prefix, i)
		for a, b := range map[string]string{
			"layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
			"mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
		} {
			out[to+b+".weight"] = w[from+a+".weight"]
			out[to+b+".bias"] = w[from+a+".bias"]
		}
		for _, kind := range []string{"weight", "bias"} {
			var qkv []float32
			for _, p := range []string{"q", "k", "v"} {
				qkv = append(qkv, w[from+"self_attn."+p+"_proj."+kind].Data...)
			}
			shape := []int{3 * cfg.Width}
			if kind == "weight" {
				shape = append(shape, cfg.Width)
			}
			out[to+"attn.in_proj_"+kind] = nn.From(qkv, shape...)
		}
	}
	return out
}

func tinyConfig() clip.Config {
	return clip.Config{
		VocabSize: 10, Positions: 6, Width: 8, MLPWidth: 32, Heads: 2, Layers: 3,
		Activation: clip.GELU, LayerNormEps: 1e-5, BOS: 8, EOS: 9, Pad: 0,
	}
}
