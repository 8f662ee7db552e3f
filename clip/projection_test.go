package clip_test

import (
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// sdxlIDs reads an int64 (1, 77) id row of sdxl/text.safetensors.
func sdxlIDs(t *testing.T, f *weights.File, name string) [][]int {
	t.Helper()
	flat, _, err := f.Int64s(name)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]int, len(flat))
	for i, v := range flat {
		row[i] = int(v)
	}
	return [][]int{row}
}

// TestSDXLEncoders checks SDXL's two text encoders against transformers:
// each one's hidden_states[-2] (no final LayerNorm), text_encoder_2's
// last_hidden_state and its projected pooled output, for the prompt, a
// negative prompt and "", from the diffusers folder (fp32 and fp16 variant)
// and from the single file (fp16, OpenCLIP names, transposed projection).
func TestSDXLEncoders(t *testing.T) {
	dir := testdata.Dir(t, "sdxl")
	ref, err := weights.Open(filepath.Join(dir, "text.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	cfg1, err := clip.ReadConfig(filepath.Join(dir, "diffusers", "text_encoder", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg2, err := clip.ReadConfig(filepath.Join(dir, "diffusers", "text_encoder_2", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T, path string) weights.Source {
		src, closeFn, err := weights.OpenAny(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeFn() })
		return src
	}
	for _, tc := range []struct {
		name, set   string
		single, p16 bool
	}{
		{name: "diffusers", set: "w32"},
		{name: "diffusers.fp16", set: "w16", p16: true},
		{name: "single.fp16", set: "w16", single: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src1, src2 weights.Source
			if tc.single {
				f := open(t, filepath.Join(dir, "sdxl_tiny.fp16.safetensors"))
				if l := weights.DetectLayout(f).Text; l != weights.TextSDXL {
					t.Fatalf("layout %v, want %v", l, weights.TextSDXL)
				}
				src1, src2 = weights.TextFromSDXL(f, 0), weights.TextFromSDXL(f, 1)
			} else {
				suffix := ".safetensors"
				if tc.p16 {
					suffix = ".fp16.safetensors"
				}
				src1 = open(t, filepath.Join(dir, "diffusers", "text_encoder", "model"+suffix))
				src2 = open(t, filepath.Join(dir, "diffusers", "text_encoder_2", "model"+suffix))
			}
			te1, err := clip.LoadPrecision(src1, cfg1, weights.KeepStored)
			if err != nil {
				t.Fatal(err)
			}
			te2, err := clip.LoadProjection(src2, cfg2, weights.KeepStored)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"cond", "uncond", "empty"} {
				h1, err := te1.Hidden(sdxlIDs(t, ref, "ids_"+p), cfg1.Layers-1)
				if err != nil {
					t.Fatal(err)
				}
				h2, pooled, err := te2.EncodePooled(sdxlIDs(t, ref, "ids2_"+p), cfg2.Layers-1)
				if err != nil {
					t.Fatal(err)
				}
				want := func(n string) *nn.Tensor {
					x, err := ref.Tensor(tc.set + "." + n)
					if err != nil {
						t.Fatal(err)
					}
					return x
				}
				compare(t, p+" te1", h1, want("te1_"+p))
				compare(t, p+" te2", h2, want("te2_"+p))
				compare(t, p+" pooled", pooled, want("pooled_"+p))
				last, err := te2.Encode(sdxlIDs(t, ref, "ids2_"+p), clip.EncodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				compare(t, p+" te2_last", last, want("te2_last_"+p))
			}
		})
	}
}

// TestSDXLBigGPreset: the preset builds SDXL base's text_encoder_2 with its
// 694,659,840 parameters (transformers' num_parameters(); position_ids is a
// buffer).
func TestSDXLBigGPreset(t *testing.T) {
	rec := &weights.ShapeRecorder{}
	if _, err := clip.LoadProjection(rec, clip.SDXLBigG(), weights.KeepFloat32); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range rec.Entries {
		n += nn.Numel(e.Shape)
	}
	if n != 694659840 {
		t.Errorf("%d parameters, want 694659840", n)
	}
}
