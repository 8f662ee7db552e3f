package weights

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/sdgo/sdgo/internal/testdata"
)

// readKeymap reads a reference map (diffusers key → LDM key, component
// prefix included) that diffusers' own conversion script wrote.
func readKeymap(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Every key of the reference maps converts both ways, through the pairs
// generated from the layout read off the LDM names.
func TestKeymapsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		gen          func(ldm []string) prefixMap
	}{
		{"unet/keymap_diffusers_to_ldm.json", LDMUNetPrefix, func(ldm []string) prefixMap { return unetMap(inferUNetLayout(ldm)) }},
		{"unet/sd2/keymap_diffusers_to_ldm.json", LDMUNetPrefix, func(ldm []string) prefixMap { return unetMap(inferUNetLayout(ldm)) }},
		{"vae/keymap_diffusers_to_ldm.json", LDMVAEPrefix, func(ldm []string) prefixMap {
			return vaeMap(countIndices(ldm, "encoder.down."), countIndices(ldm, "encoder.down.0.block."))
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			km := readKeymap(t, tc.path)
			var ldm []string
			for _, v := range km {
				ldm = append(ldm, strings.TrimPrefix(v, tc.prefix))
			}
			m := tc.gen(ldm)
			for d, l := range km {
				l = strings.TrimPrefix(l, tc.prefix)
				if got, ok := m.toSource(d); !ok || got != l {
					t.Errorf("%s -> %s (matched %t), want %s", d, got, ok, l)
				}
				if got, ok := m.toCanonical(l); !ok || got != d {
					t.Errorf("%s <- %s (matched %t), want %s", d, got, ok, l)
				}
			}
		})
	}
}

func TestInferUNetLayout(t *testing.T) {
	// SD 1.5's real layout: 4 levels, 2 resnets each, no attention in the
	// first up block (its upsampler is output_blocks.2.1), attention in the others.
	var names []string
	for k := range 12 {
		names = append(names, "input_blocks."+itoa(k)+".0.weight")
		names = append(names, "output_blocks."+itoa(k)+".0.in_layers.0.weight")
	}
	for _, k := range []int{3, 6, 9} {
		names = append(names, "input_blocks."+itoa(k)+".0.op.weight")
	}
	for _, k := range []int{5, 8, 11} {
		names = append(names, "output_blocks."+itoa(k)+".1.norm.weight")
	}
	l := inferUNetLayout(names)
	if l.levels != 4 || l.layersPerBlock != 2 || l.upAttention[0] || !l.upAttention[1] || !l.upAttention[3] {
		t.Fatalf("layout %+v", l)
	}
	m := unetMap(l)
	for d, want := range map[string]string{
		"up_blocks.0.upsamplers.0.conv.weight":                          "output_blocks.2.1.conv.weight",
		"up_blocks.2.upsamplers.0.conv.weight":                          "output_blocks.8.2.conv.weight",
		"down_blocks.3.resnets.1.conv2.bias":                            "input_blocks.11.0.out_layers.3.bias",
		"down_blocks.2.downsamplers.0.conv.weight":                      "input_blocks.9.0.op.weight",
		"up_blocks.3.attentions.2.proj_out.weight":                      "output_blocks.11.1.proj_out.weight",
		"mid_block.resnets.1.time_emb_proj.weight":                      "middle_block.2.emb_layers.1.weight",
		"up_blocks.1.resnets.2.conv_shortcut.bias":                      "output_blocks.5.0.skip_connection.bias",
		"time_embedding.linear_2.weight":                                "time_embed.2.weight",
		"mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight": "middle_block.1.transformer_blocks.0.attn1.to_q.weight",
	} {
		if got, _ := m.toSource(d); got != want {
			t.Errorf("%s -> %s, want %s", d, got, want)
		}
		if got, _ := m.toCanonical(want); got != d {
			t.Errorf("%s <- %s, want %s", want, got, d)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// open opens a reference safetensors file, closed at the test's end.
func openRef(t *testing.T, path string) *File {
	t.Helper()
	f, err := Open(testdata.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Single-file checkpoints seen through the views hold exactly the tensors of
// the diffusers/transformers files: same names, shapes and every value
// (a fp32 reference is rounded to fp16 when the single file is fp16).
func TestViewsMatchDiffusers(t *testing.T) {
	for _, tc := range []struct {
		single, ref string
		view        func(Source) Source
		extra       []string // names the single file carries beyond the reference
	}{
		{"pipeline/sd_tiny.safetensors", "unet/diffusion_pytorch_model.safetensors", UNetFromLDM, nil},
		{"pipeline/sd_tiny.safetensors", "vae/diffusion_pytorch_model.safetensors", VAEFromLDM, nil},
		{"pipeline/sd_tiny.fp16.safetensors", "pipeline/diffusers/unet/diffusion_pytorch_model.fp16.safetensors", UNetFromLDM, nil},
		{"pipeline/sd_tiny.fp16.safetensors", "pipeline/diffusers/vae/diffusion_pytorch_model.fp16.safetensors", VAEFromLDM, nil},
		{"pipeline/sd_tiny.fp16.safetensors", "pipeline/diffusers/text_encoder/model.fp16.safetensors", TextFromLDM,
			[]string{"text_model.embeddings.position_ids"}},
		{"clip/sd1/sd1_single_file_names.fp16.safetensors", "clip/sd1/model.fp16.safetensors", TextFromLDM, nil},
		{"clip/sd2/sd2_openclip_names.fp16.safetensors", "clip/sd2/model.fp16.safetensors", TextFromLDM, nil},
		{"clip/sd2/sd2_openclip_names.fp16.safetensors", "clip/sd2/model.safetensors", TextFromLDM, nil},
		{"unet/sd2/unet_ldm.fp16.safetensors", "unet/sd2/diffusion_pytorch_model.safetensors", UNetFromLDM, nil},
		{"vae/vae_ldm.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors", VAEFromLDM, nil},
		// A stand-alone LDM VAE has no first_stage_model. prefix.
		{"vae/vae_ldm.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors",
			func(s Source) Source { return VAEFromLDM(Prefixed(s, LDMVAEPrefix)) }, nil},
	} {
		t.Run(filepath.Base(tc.single)+"~"+tc.ref, func(t *testing.T) {
			single, ref := openRef(t, tc.single), openRef(t, tc.ref)
			view := tc.view(single)
			want := Shapes(ref)
			for _, n := range tc.extra {
				want[n] = nil
			}
			if err := Check(view, want); err != nil {
				t.Fatal(err)
			}
			var maxDiff float64
			for _, name := range ref.Names() {
				// A fp16 single file matches its fp32 reference rounded to fp16.
				rin, _ := ref.Info(name)
				vin, _ := view.Info(name)
				round := rin.DType == F32 && vin.DType == F16
				w, err := ref.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				g, err := view.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				if !sameShape(g.Shape, w.Shape) {
					t.Fatalf("%s: shape %v, want %v", name, g.Shape, w.Shape)
				}
				for i, x := range w.Data {
					if round {
						x = float16.Fromfloat32(x).Float32()
					}
					maxDiff = math.Max(maxDiff, math.Abs(float64(g.Data[i]-x)))
				}
			}
			if maxDiff != 0 {
				t.Fatalf("max |Δ| = %g over %d tensors, want 0", maxDiff, len(ref.Names()))
			}
		})
	}
}

func TestDetectLayout(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Layout
	}{
		{"pipeline/sd_tiny.safetensors", Layout{UNet: true, VAE: true, Text: TextCLIP}},
		{"clip/sd2/sd2_openclip_names.fp16.safetensors", Layout{Text: TextOpenCLIP}},
		{"vae/vae_ldm.fp16.safetensors", Layout{VAE: true}},
		{"unet/diffusion_pytorch_model.safetensors", Layout{}},
	} {
		got := DetectLayout(openRef(t, tc.path))
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.path, got, tc.want)
		}
		if got.SingleFile() != (tc.want != Layout{}) {
			t.Errorf("%s: SingleFile %t", tc.path, got.SingleFile())
		}
	}
}

// The fused q;k;v view reports the row block of the source's bytes.
func TestSplitInfo(t *testing.T) {
	f := openRef(t, "clip/sd2/sd2_openclip_names.fp16.safetensors")
	v := TextFromLDM(f)
	src, _ := f.Info("cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight")
	for i, p := range []string{"q", "k", "v"} {
		in, ok := v.Info("text_model.encoder.layers.1.self_attn." + p + "_proj.weight")
		n := (src.End - src.Begin) / 3
		if !ok || !sameShape(in.Shape, []int{64, 64}) || in.Begin != src.Begin+int64(i)*n || in.End != in.Begin+n {
			t.Errorf("%s: %+v (source %+v)", p, in, src)
		}
	}
	for _, hidden := range []string{"text_projection", "logit_scale", "cond_stage_model.model.text_projection"} {
		if _, ok := v.Info(hidden); ok {
			t.Errorf("%s is visible", hidden)
		}
	}
}

// Every generated map is one-to-one: no two pairs share a prefix on either
// side, and each full name goes there and back (SD 1.5's real UNet layout,
// SD's 4-level VAE, the OpenCLIP maps).
func TestPrefixMapsInvert(t *testing.T) {
	sd15 := unetLayout{levels: 4, layersPerBlock: 2, upAttention: []bool{false, true, true, true}}
	for name, m := range map[string]prefixMap{
		"unet sd1.5":        unetMap(sd15),
		"vae 4 levels":      vaeMap(4, 2),
		"openclip":          openCLIPMap,
		"openclip resblock": openCLIPBlock,
	} {
		seen := [2]map[string]bool{{}, {}}
		for _, p := range m {
			for side := range 2 {
				if seen[side][p[side]] {
					t.Errorf("%s: prefix %q appears twice", name, p[side])
				}
				seen[side][p[side]] = true
			}
			full := p[0] + "weight"
			if !strings.HasSuffix(p[0], ".") {
				full = p[0]
			}
			s, ok1 := m.toSource(full)
			c, ok2 := m.toCanonical(s)
			if !ok1 || !ok2 || c != full {
				t.Errorf("%s: %s -> %s -> %s", name, full, s, c)
			}
		}
	}
}
