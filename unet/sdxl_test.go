package unet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// sdxlCases are the reference's SDXL U-Net files, each in diffusers naming.
var sdxlCases = []struct {
	name string
	fp16 bool
	open func(t *testing.T, dir string) weights.Source
}{
	{"diffusers", false, func(t *testing.T, dir string) weights.Source {
		return openSource(t, filepath.Join(dir, "diffusers/unet/diffusion_pytorch_model.safetensors"))
	}},
	{"diffusers.fp16", true, func(t *testing.T, dir string) weights.Source {
		return openSource(t, filepath.Join(dir, "diffusers/unet/diffusion_pytorch_model.fp16.safetensors"))
	}},
	{"single.fp16", true, func(t *testing.T, dir string) weights.Source {
		return weights.UNetFromLDM(openSource(t, filepath.Join(dir, "sdxl_tiny.fp16.safetensors")))
	}},
	{"single.fp16-keymap", true, func(t *testing.T, dir string) weights.Source {
		// The reference's own diffusers → sgm key map, beside UNetFromLDM.
		data, err := os.ReadFile(filepath.Join(dir, "keymap_diffusers_to_sgm.json"))
		if err != nil {
			t.Fatal(err)
		}
		var maps map[string]json.RawMessage
		if err := json.Unmarshal(data, &maps); err != nil {
			t.Fatal(err)
		}
		var toSGM map[string]string
		if err := json.Unmarshal(maps["unet"], &toSGM); err != nil {
			t.Fatal(err)
		}
		fromSGM := map[string]string{}
		for d, s := range toSGM {
			fromSGM[s] = d
		}
		return &weights.Renamed{
			Src:        openSource(t, filepath.Join(dir, "sdxl_tiny.fp16.safetensors")),
			ToSource:   func(n string) string { return toSGM[n] },
			FromSource: func(n string) string { return fromSGM[n] },
		}
	}},
}

// TestSDXLParity runs the SDXL-shaped U-Net (no attention at level 0, two
// transformer blocks at the deepest level, linear projections, add_embedding
// with time ids and pooled text) on the reference's two calls and compares
// the output and, for case a with fp32 weights, every recorded intermediate.
func TestSDXLParity(t *testing.T) {
	dir := testdata.Dir(t, "sdxl")
	cfg, err := ReadConfig(filepath.Join(dir, "diffusers/unet/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	io := openSource(t, filepath.Join(dir, "unet_io.safetensors"))
	for _, sc := range sdxlCases {
		t.Run(sc.name, func(t *testing.T) {
			m, err := LoadPrecision(sc.open(t, dir), cfg, weights.KeepStored)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"a", "b"} {
				got := map[string]*nn.Tensor{}
				m.Trace = nil
				if c == "a" && !sc.fp16 {
					m.Trace = func(name string, x *nn.Tensor) { got[name] = x.Clone() }
				}
				in := func(n string) *nn.Tensor { return tensor(t, io, c+"."+n) }
				out, err := m.ForwardAdded(in("sample"), in("timestep").Data, in("encoder_hidden_states"),
					&AddedCond{TextEmbeds: in("text_embeds"), TimeIDs: in("time_ids")})
				if err != nil {
					t.Fatal(err)
				}
				inputs := map[string]bool{"sample": true, "timestep": true, "encoder_hidden_states": true, "text_embeds": true, "time_ids": true}
				for _, name := range io.Names() {
					n, ok := strings.CutPrefix(name, "a.")
					if m.Trace == nil || !ok || inputs[n] || strings.HasPrefix(n, "out") {
						continue
					}
					if got[n] == nil {
						t.Errorf("trace %q not recorded", n)
						continue
					}
					want := tensor(t, io, name)
					compare(t, name, got[n].Reshape(want.Shape...), want)
				}
				want := c + ".out"
				if sc.fp16 {
					want += "_w16"
				}
				compare(t, want, out, tensor(t, io, want))
			}
		})
	}
}

// TestSDXLConfigFromWeights: the config learnt from the tensors is the
// config.json's, but for the head counts and the time-id width, which no
// tensor records.
func TestSDXLConfigFromWeights(t *testing.T) {
	dir := testdata.Dir(t, "sdxl")
	want, err := ReadConfig(filepath.Join(dir, "diffusers/unet/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range sdxlCases[:3] {
		t.Run(sc.name, func(t *testing.T) {
			got, err := ConfigFromWeights(sc.open(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			if got.AdditionEmbedType != TextTime || got.ProjectionClassEmbeddingsInputDim != 96 {
				t.Errorf("add_embedding: %q, input %d, want %q, 96", got.AdditionEmbedType, got.ProjectionClassEmbeddingsInputDim, TextTime)
			}
			got.Heads, got.SampleSize, got.AdditionTimeEmbedDim = want.Heads, want.SampleSize, want.AdditionTimeEmbedDim
			got.NormNumGroups = want.NormNumGroups
			if !reflect.DeepEqual(got, want) {
				t.Errorf("inferred config\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestSDXLPresets: the presets validate, and the model they build has
// SDXL base's 2,567,463,684 U-Net parameters (diffusers' num_parameters()).
func TestSDXLPresets(t *testing.T) {
	for _, c := range []Config{SDXL(), SDXLTurbo()} {
		rec := &weights.ShapeRecorder{}
		if _, err := Load(rec, c); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range rec.Entries {
			n += nn.Numel(e.Shape)
		}
		if n != 2567463684 {
			t.Errorf("%d parameters, want 2567463684", n)
		}
	}
}

// TestBlockDoneTransformers: with BlockDone set, it is called after each
// block and each spatial transformer (for the tiny SDXL: 7 blocks, 11
// transformers), and the output does not change.
func TestBlockDoneTransformers(t *testing.T) {
	dir := testdata.Dir(t, "sdxl")
	cfg, err := ReadConfig(filepath.Join(dir, "diffusers/unet/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	io := openSource(t, filepath.Join(dir, "unet_io.safetensors"))
	m, err := Load(sdxlCases[0].open(t, dir), cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	m.BlockDone = func() { calls++ }
	in := func(n string) *nn.Tensor { return tensor(t, io, "a."+n) }
	out, err := m.ForwardAdded(in("sample"), in("timestep").Data, in("encoder_hidden_states"),
		&AddedCond{TextEmbeds: in("text_embeds"), TimeIDs: in("time_ids")})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 18 {
		t.Errorf("BlockDone called %d times, want 18", calls)
	}
	compare(t, "a.out", out, tensor(t, io, "a.out"))
}
