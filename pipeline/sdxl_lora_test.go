package pipeline

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// sdxlLoraModule is one module of the test's SDXL LoRA file: the key it
// has in the file, the component and weight name it must change, and the
// shape of that weight.
type sdxlLoraModule struct {
	key    string // module key in the file (kohya or PEFT naming)
	peft   bool   // lora_A/lora_B, no alpha (scale 1); else kohya lora_down/lora_up with alpha
	comp   string // "unet", "te1", "te2"
	weight string // the model's weight name in that component
	shape  []int
}

// sdxlLoraModules address both text encoders and the U-Net of the tiny
// SDXL (../shared/testdata/sdxl): kohya's names (the U-Net in diffusers'
// and in the original sgm layout, as sd-scripts' SDXL LoRAs have them)
// and diffusers/PEFT names (text_encoder_2.).
var sdxlLoraModules = []sdxlLoraModule{
	{"lora_te1_text_model_encoder_layers_0_self_attn_q_proj", false, "te1", "text_model.encoder.layers.0.self_attn.q_proj.weight", []int{32, 32}},
	{"lora_te1_text_model_encoder_layers_1_mlp_fc1", false, "te1", "text_model.encoder.layers.1.mlp.fc1.weight", []int{64, 32}},
	// The second encoder's q, k and v are one fused in_proj in the single file.
	{"lora_te2_text_model_encoder_layers_0_self_attn_k_proj", false, "te2", "text_model.encoder.layers.0.self_attn.k_proj.weight", []int{48, 48}},
	{"lora_te2_text_model_encoder_layers_1_mlp_fc2", false, "te2", "text_model.encoder.layers.1.mlp.fc2.weight", []int{48, 80}},
	{"text_encoder_2.text_model.encoder.layers.2.self_attn.v_proj", true, "te2", "text_model.encoder.layers.2.self_attn.v_proj.weight", []int{48, 48}},
	{"text_encoder.text_model.encoder.layers.1.self_attn.out_proj", true, "te1", "text_model.encoder.layers.1.self_attn.out_proj.weight", []int{32, 32}},
	{"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", false, "unet", "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", []int{32, 80}},
	// up_blocks.0.attentions.0.transformer_blocks.1 in the sgm layout.
	{"lora_unet_output_blocks_0_1_transformer_blocks_1_attn1_to_q", false, "unet", "up_blocks.0.attentions.0.transformer_blocks.1.attn1.to_q.weight", []int{48, 48}},
	{"lora_unet_down_blocks_0_resnets_0_conv1", false, "unet", "down_blocks.0.resnets.0.conv1.weight", []int{16, 16, 3, 3}},
	{"unet.mid_block.attentions.0.transformer_blocks.1.ff.net.2", true, "unet", "mid_block.attentions.0.transformer_blocks.1.ff.net.2.weight", []int{48, 192}},
}

// sdxlLoraFactors are a module's random factors: down (r, in·kh·kw) and
// up (out, r), and the scale alpha/r.
type sdxlLoraFactors struct {
	down, up []float32
	rank     int
	scale    float64
}

// writeSDXLLora writes the modules as one LoRA file and returns the file
// and each module's factors.
func writeSDXLLora(t *testing.T) (string, map[string]sdxlLoraFactors) {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 1))
	randn := func(n int, s float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * s)
		}
		return out
	}
	const rank, alpha = 4, 2.0
	var es []weights.Entry
	facs := map[string]sdxlLoraFactors{}
	for _, md := range sdxlLoraModules {
		out, cols := md.shape[0], nn.Numel(md.shape)/md.shape[0]
		f := sdxlLoraFactors{down: randn(rank*cols, 0.3), up: randn(out*rank, 0.3), rank: rank, scale: alpha / rank}
		downShape, upShape := []int{rank, cols}, []int{out, rank}
		if len(md.shape) == 4 { // a 3×3 conv: down (r, in, 3, 3), up (out, r, 1, 1)
			downShape, upShape = []int{rank, md.shape[1], md.shape[2], md.shape[3]}, []int{out, rank, 1, 1}
		}
		downName, upName := md.key+".lora_down.weight", md.key+".lora_up.weight"
		if md.peft {
			downName, upName, f.scale = md.key+".lora_A.weight", md.key+".lora_B.weight", 1
		} else {
			es = append(es, weights.Entry{Name: md.key + ".alpha", DType: weights.F32, Shape: []int{}, Float: []float32{alpha}})
		}
		es = append(es,
			weights.Entry{Name: downName, DType: weights.F32, Shape: downShape, Float: f.down},
			weights.Entry{Name: upName, DType: weights.F32, Shape: upShape, Float: f.up})
		facs[md.key] = f
	}
	p := filepath.Join(t.TempDir(), "xl_lora.safetensors")
	if err := weights.Write(p, es, map[string]string{"ss_base_model_version": "sdxl_base_v1-0"}, false); err != nil {
		t.Fatal(err)
	}
	return p, facs
}

// sdxlWeight is a weight of one of m's components.
func sdxlWeight(t *testing.T, m *Model, md sdxlLoraModule) *nn.Tensor {
	t.Helper()
	var w *nn.Tensor
	switch md.comp {
	case "unet":
		w = m.UNet.Weights[md.weight]
	case "te1":
		w = m.Text.Weights[md.weight]
	case "te2":
		w = m.Text2.Weights[md.weight]
	}
	if w == nil || !nn.SameShape(w.Shape, md.shape) {
		t.Fatalf("%s %s: weight %v, want shape %v", md.comp, md.weight, w, md.shape)
	}
	return w
}

// TestSDXLLora applies a LoRA addressing both text encoders (kohya's
// lora_te1_/lora_te2_ and diffusers' text_encoder./text_encoder_2.) and the
// U-Net (kohya's names in both layouts, PEFT's) to the tiny SDXL, as a
// diffusers folder (fp32) and as the fp16 single file (whose second encoder
// has OpenCLIP's fused in_proj). Every element of every addressed weight
// must be W + m·s·up·down (computed here in float64); the image must
// change; undoing restores W exactly.
func TestSDXLLora(t *testing.T) {
	path, facs := writeSDXLLora(t)
	const mult = 0.7
	for _, which := range []string{"diffusers", "single.fp16"} {
		t.Run(which, func(t *testing.T) {
			m := loadSDXLTiny(t, which, false)
			before := map[string][]float32{}
			for _, md := range sdxlLoraModules {
				before[md.key] = append([]float32(nil), sdxlWeight(t, m, md).Floats()...)
			}
			o := Options{Prompt: refPrompt, Steps: 2, CFGScale: 5, Seed: 42, Width: 32, Height: 32, Sampler: "euler"}
			plain, err := m.Generate(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			o.Loras = []LoraFile{{Path: path, Multiplier: mult}}
			got, err := m.Generate(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			// The half-precision weights of the fp16 file are rounded once.
			tol := 2e-7
			if which == "single.fp16" {
				tol = 1.0 / 2048 // half an ulp of fp16, relative
			}
			for _, md := range sdxlLoraModules {
				f := facs[md.key]
				w := sdxlWeight(t, m, md).Floats()
				out, cols := md.shape[0], nn.Numel(md.shape)/md.shape[0]
				var worst float64
				for i := range out {
					for j := range cols {
						d := 0.0
						for k := range f.rank {
							d += float64(f.up[i*f.rank+k]) * float64(f.down[k*cols+j])
						}
						want := float64(before[md.key][i*cols+j]) + mult*f.scale*d
						e := math.Abs(float64(w[i*cols+j])-want) / max(1, math.Abs(want))
						worst = max(worst, e)
					}
				}
				if worst > tol {
					t.Errorf("%s (%s %s): merged weight off by %.3g relative (tolerance %.3g)", md.key, md.comp, md.weight, worst, tol)
				}
			}
			if d := maxPixelDiff(plain[0].Image.Pix, got[0].Image.Pix); d == 0 {
				t.Errorf("the LoRA did not change the image")
			} else {
				t.Logf("%s: image changed by up to %d/255", which, d)
			}
			// Without the LoRA the weights are the model's again, exactly.
			o.Loras = nil
			again, err := m.Generate(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			for _, md := range sdxlLoraModules {
				for i, v := range sdxlWeight(t, m, md).Floats() {
					if v != before[md.key][i] {
						t.Fatalf("%s: after undo element %d is %g, was %g", md.key, i, v, before[md.key][i])
					}
				}
			}
			if d := maxPixelDiff(plain[0].Image.Pix, again[0].Image.Pix); d != 0 {
				t.Errorf("after undo the image differs from the plain one by %d/255", d)
			}
		})
	}
}

// maxPixelDiff is the largest difference between two images' bytes.
func maxPixelDiff(a, b []uint8) int {
	d := 0
	for i := range a {
		d = max(d, int(a[i])-int(b[i]), int(b[i])-int(a[i]))
	}
	return d
}

// TestLoraFamilyMismatch: an SDXL LoRA on SD 1.x and an SD 1.x LoRA on
// SDXL fail, naming the file and a tensor, with and without
// LoraSkipUnknown, through --lora files and <lora:NAME:W> tags alike.
func TestLoraFamilyMismatch(t *testing.T) {
	xlLora, _ := writeSDXLLora(t)
	sd1Lora := filepath.Join(testdata.Dir(t, "lora"), "kohya.safetensors")
	xl := loadSDXLTiny(t, "diffusers", false)
	sd1 := loadTiny(t, "diffusers")
	for _, tc := range []struct {
		name string
		m    *Model
		file string
		want string
	}{
		{"sdxl-lora-on-sd1", sd1, xlLora, "is an SDXL adapter"},
		{"sd1-lora-on-sdxl", xl, sd1Lora, "is for a single text encoder"},
	} {
		for _, skip := range []bool{false, true} {
			for _, tag := range []bool{false, true} {
				o := Options{Prompt: refPrompt, Steps: 1, CFGScale: 5, Seed: 1, Width: 32, Height: 32, Sampler: "euler", LoraSkipUnknown: skip}
				m := tc.m
				if tag {
					name := strings.TrimSuffix(filepath.Base(tc.file), ".safetensors")
					o.Prompt += " <lora:" + name + ":0.8>"
					saved := m.loraDir
					m.loraDir = filepath.Dir(tc.file)
					defer func() { m.loraDir = saved }()
				} else {
					o.Loras = []LoraFile{{Path: tc.file, Multiplier: 0.8}}
				}
				_, err := m.Generate(context.Background(), o)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), "lora_") {
					t.Errorf("%s (skip unknown %v, tag %v): error %v, want %q naming the file and a tensor", tc.name, skip, tag, err, tc.want)
				}
			}
		}
	}
}

// TestSDXLEmbedding: an SDXL textual-inversion file (clip_l and clip_g
// tensors, as AUTOMATIC1111 and kohya-ss write them) whose vectors are the
// two encoders' own token embeddings of "horse" (one token) makes "… riding
// a <trigger>" encode exactly as "… riding a horse": context (both halves)
// and pooled output, every element. An SD 1.x embedding on SDXL and the
// SDXL one on SD 1.x fail, naming the file.
func TestSDXLEmbedding(t *testing.T) {
	m := loadSDXLTiny(t, "diffusers", false)
	horse := m.Tokenizer.Encode("horse")
	if len(horse) != 1 {
		t.Fatalf("horse is %v, want one token", horse)
	}
	row := func(table *nn.Tensor, id int) []float32 {
		d := table.Shape[1]
		return append([]float32(nil), table.Data[id*d:(id+1)*d]...)
	}
	l := row(m.Text.Weights["text_model.embeddings.token_embedding.weight"], horse[0])
	g := row(m.Text2.Weights["text_model.embeddings.token_embedding.weight"], horse[0])
	dir := t.TempDir()
	err := weights.Write(filepath.Join(dir, "xlhorse.safetensors"), []weights.Entry{
		{Name: "clip_l", DType: weights.F32, Shape: []int{1, len(l)}, Float: l},
		{Name: "clip_g", DType: weights.F32, Shape: []int{1, len(g)}, Float: g},
	}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	m.embeddingDir = dir
	o := Options{Prompt: "a photograph of an astronaut riding a xlhorse", Steps: 1, CFGScale: 1, Seed: 1, Width: 32, Height: 32, Sampler: "euler", Stages: &Stages{}}
	res, err := m.Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res[0].Parameters, "TI hashes") || !strings.Contains(res[0].Parameters, "xlhorse") {
		t.Errorf("parameters %q: no TI hash of xlhorse", res[0].Parameters)
	}
	got := o.Stages
	o.Prompt, o.Stages = refPrompt, &Stages{}
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"context_cond", "pooled_cond", "latents_step0"} {
		compareRel(t, n, got.Tensor(n), o.Stages.Tensor(n), 0)
	}

	// An SD 1.x embedding (one tensor) on SDXL.
	sd1 := t.TempDir()
	if err := weights.Write(filepath.Join(sd1, "onehorse.safetensors"), []weights.Entry{{Name: "emb_params", DType: weights.F32, Shape: []int{1, len(l)}, Float: l}}, nil, false); err != nil {
		t.Fatal(err)
	}
	m.embeddingDir = sd1
	o.Prompt = "a onehorse"
	if _, err := m.Generate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "onehorse.safetensors") || !strings.Contains(err.Error(), "SD 1.x/2.x") {
		t.Errorf("SD 1.x embedding on SDXL: error %v", err)
	}
	// The SDXL embedding on SD 1.x.
	m1 := loadTiny(t, "diffusers")
	m1.embeddingDir = dir
	o.Prompt, o.Stages = "a xlhorse", nil
	if _, err := m1.Generate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "xlhorse.safetensors") || !strings.Contains(err.Error(), "SDXL embedding") {
		t.Errorf("SDXL embedding on SD 1.x: error %v", err)
	}
}
