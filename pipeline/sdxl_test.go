package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// sdxlRuns are the runs of ../shared/testdata/sdxl (see its README).
var sdxlRuns = []struct {
	name, sampler string
	karras, turbo bool
	steps         int
	cfg           float64
	negative      string
	micro         bool
}{
	{name: "euler_4", sampler: "euler", steps: 4, cfg: 5},
	{name: "euler_20", sampler: "euler", steps: 20, cfg: 5},
	{name: "euler_a_4", sampler: "euler_a", steps: 4, cfg: 7, negative: "blurry, low quality"},
	{name: "dpmpp_2m_karras_20", sampler: "dpm++2m", karras: true, steps: 20, cfg: 7, negative: "blurry, low quality"},
	{name: "ddim_4", sampler: "ddim", steps: 4, cfg: 7, negative: "blurry, low quality"},
	{name: "micro_4", sampler: "euler", steps: 4, cfg: 5, micro: true},
	{name: "turbo_1", sampler: "euler_a", turbo: true, steps: 1, cfg: 1},
	{name: "turbo_4", sampler: "euler_a", turbo: true, steps: 4, cfg: 1},
}

// loadSDXL loads the tiny SDXL: "diffusers" (fp32), "diffusers.fp16" (the
// fp16 variant files) or the fp16 single file with the folder's configs.
func loadSDXLTiny(t *testing.T, which string, turbo bool) *Model {
	t.Helper()
	dir := testdata.Dir(t, "sdxl")
	opts := LoadOptions{}
	path := filepath.Join(dir, "diffusers")
	switch which {
	case "diffusers.fp16":
		opts.PreferFP16 = true
	case "single.fp16":
		path, opts.Config = filepath.Join(dir, "sdxl_tiny.fp16.safetensors"), filepath.Join(dir, "diffusers")
	}
	if turbo {
		opts.SchedulerConfig = filepath.Join(dir, "scheduler_turbo", "scheduler_config.json")
	}
	m, err := Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Version != SDXL {
		t.Fatalf("version %v, want SDXL", m.Version)
	}
	return m
}

// TestSDXLParity runs every reference run through Generate and compares
// the conditioning (context, pooled, time ids), the initial and every
// step's latents, the decoded image and the PNG, for the diffusers folder
// (fp32) and, against the fp16-weight runs, the fp16 variant and the fp16
// single file.
func TestSDXLParity(t *testing.T) {
	dir := testdata.Dir(t, "sdxl")
	text, err := weights.Open(filepath.Join(dir, "text.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	for _, which := range []string{"diffusers", "diffusers.fp16", "single.fp16"} {
		set := "w32"
		if which != "diffusers" {
			set = "w16"
		}
		models := map[bool]*Model{}
		parent := t
		for _, r := range sdxlRuns {
			if set == "w16" && r.steps == 20 {
				continue // the fp16 runs are checked on their final latents; 4 steps suffice
			}
			t.Run(which+"/"+r.name, func(t *testing.T) {
				if models[r.turbo] == nil {
					models[r.turbo] = loadSDXLTiny(parent, which, r.turbo) // closed when the whole test ends
				}
				m := models[r.turbo]
				ref, err := weights.Open(filepath.Join(dir, "runs", r.name+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				want := func(f *weights.File, n string) *nn.Tensor {
					x, err := f.Tensor(n)
					if err != nil {
						t.Fatal(err)
					}
					return x
				}
				o := Options{
					Prompt: refPrompt, NegativePrompt: r.negative, Steps: r.steps, CFGScale: r.cfg, Seed: 42,
					Width: 32, Height: 32, Sampler: r.sampler, Karras: r.karras, Stages: &Stages{},
				}
				if r.micro {
					o.OriginalHeight, o.OriginalWidth, o.CropTop, o.CropLeft = 96, 64, 4, 8
				}
				res, err := m.Generate(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				s := o.Stages
				ids := want(ref, "w32.add_time_ids")
				compareRel(t, "add_time_ids", s.Tensor("add_time_ids"), nn.From(ids.Data[len(ids.Data)-6:], 1, 6), 0)
				compareRel(t, "pooled_cond", s.Tensor("pooled_cond"), want(text, set+".pooled_cond"), 1e-5)
				compareRel(t, "context_cond", s.Tensor("context_cond"), want(text, set+".cond"), 1e-5)
				if r.cfg > 1 {
					if r.negative == "" { // force_zeros_for_empty_prompt
						compareRel(t, "pooled_uncond", s.Tensor("pooled_uncond"), nn.New(1, 48), 0)
						compareRel(t, "context_uncond", s.Tensor("context_uncond"), nn.New(1, 77, 80), 0)
					} else {
						compareRel(t, "pooled_uncond", s.Tensor("pooled_uncond"), want(text, set+".pooled_uncond"), 1e-5)
						compareRel(t, "context_uncond", s.Tensor("context_uncond"), want(text, set+".uncond"), 1e-5)
					}
				} else if s.Tensor("context_uncond") != nil {
					t.Error("no guidance, but a negative context was encoded")
				}
				if set == "w32" { // what the U-Net was given: [uncond, cond] or [cond]
					pooled := want(ref, "w32.add_text_embeds")
					got := s.Tensor("pooled_cond")
					if r.cfg > 1 {
						got = catBatch(s.Tensor("pooled_uncond"), got)
					}
					compareRel(t, "add_text_embeds", got, pooled, 1e-5)
				}
				if set == "w32" {
					compareRel(t, "latents_0", s.Tensor("latents_init"), want(ref, "w32.latents_0"), 1e-6)
					for i := range r.steps {
						n := fmt.Sprintf("step%d.latents", i)
						compareRel(t, n, s.Tensor(fmt.Sprintf("latents_step%d", i)), want(ref, "w32."+n), 1e-5)
					}
				}
				compareRel(t, "final", lastLatents(s), want(ref, set+".final_latents"), 1e-5)
				compareRel(t, "image", s.Tensor("image"), want(ref, set+".image"), 1e-4)
				if set == "w32" {
					comparePNG(t, filepath.Join(dir, "runs", r.name+".png"), res[0].Image)
				}
			})
		}
	}
}

// TestSDXLEmptyNegative: an explicit empty negative prompt is encoded like
// any prompt (diffusers' negative_prompt=""), not zeroed.
func TestSDXLEmptyNegative(t *testing.T) {
	dir := testdata.Dir(t, "sdxl")
	text, err := weights.Open(filepath.Join(dir, "text.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	m := loadSDXLTiny(t, "diffusers", false)
	o := Options{Prompt: refPrompt, Steps: 1, CFGScale: 5, Width: 32, Height: 32, Sampler: "euler", EncodeEmptyNegative: true, Stages: &Stages{}}
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{{"context_uncond", "w32.empty"}, {"pooled_uncond", "w32.pooled_empty"}} {
		want, err := text.Tensor(c.want)
		if err != nil {
			t.Fatal(err)
		}
		compareRel(t, c.got, o.Stages.Tensor(c.got), want, 1e-5)
	}
}

// writeNames writes a small safetensors file holding the named tensors,
// each of the given shape (default (1)), and returns its path.
func writeNames(t *testing.T, name string, shapes map[string][]int) string {
	t.Helper()
	var es []weights.Entry
	for n, s := range shapes {
		if s == nil {
			s = []int{1}
		}
		es = append(es, weights.Entry{Name: n, DType: weights.F32, Shape: s, Float: make([]float32, nn.Numel(s))})
	}
	p := filepath.Join(t.TempDir(), name)
	if err := weights.Write(p, es, nil, false); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSDXLRefinerError(t *testing.T) {
	p := writeNames(t, "refiner.safetensors", map[string][]int{
		"model.diffusion_model.input_blocks.0.0.weight":        nil,
		"first_stage_model.decoder.conv_in.weight":             nil,
		"conditioner.embedders.0.model.ln_final.weight":        nil,
		"conditioner.embedders.0.model.text_projection":        nil,
		"conditioner.embedders.0.model.token_embedding.weight": nil,
	})
	_, err := Load(p, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "refiner is not supported") || !strings.Contains(err.Error(), p) {
		t.Errorf("refiner: error %v, want one naming the file and saying the refiner is not supported", err)
	}
}

func TestCheckAdapterFamily(t *testing.T) {
	xl := loadSDXLTiny(t, "diffusers", false)
	sd1 := loadTiny(t, "diffusers")
	for _, tc := range []struct {
		name   string
		m      *Model
		shapes map[string][]int
		want   string // in the error; "" for none
	}{
		{"xl-on-sd1", sd1, map[string][]int{"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": {4, 32}}, "SDXL adapter"},
		{"sd1-on-xl", xl, map[string][]int{"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": {4, 32}}, "single text encoder"},
		{"xl-unet-on-xl", xl, map[string][]int{"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": {4, 80}}, ""},
		{"wide-unet-on-xl", xl, map[string][]int{"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_v.lora_down.weight": {4, 768}}, "a context of width 768 (SD 1.x)"},
		{"peft-xl-on-sd1", sd1, map[string][]int{"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": {4, 2048}}, "width 2048 (SDXL)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeNames(t, "a.safetensors", tc.shapes)
			src, closeFn, err := weights.OpenAny(p)
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			err = tc.m.CheckAdapterFamily(p, src)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p)) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSDXLClipSkipAndLongPrompt: clip skip 1 and 2 are SDXL's own
// penultimate layer, 3 changes only the first encoder's half; a prompt past
// 75 tokens gives two chunks of 77 tokens, and the negative is padded to match.
func TestSDXLClipSkipAndLongPrompt(t *testing.T) {
	m := loadSDXLTiny(t, "diffusers", false)
	ctx := func(skip int, p string) *nn.Tensor {
		c, _, _, err := m.encodeXL(p, skip)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2, c3 := ctx(1, refPrompt), ctx(2, refPrompt), ctx(3, refPrompt)
	compareRel(t, "clip skip 1 vs 2", c1, c2, 0)
	var d1, d2 float64
	for i, v := range c3.Data {
		d := float64(abs32(v - c2.Data[i]))
		if i%80 < 32 {
			d1 = max(d1, d)
		} else {
			d2 = max(d2, d)
		}
	}
	if d1 == 0 || d2 != 0 {
		t.Errorf("clip skip 3: first encoder changed by %g (want > 0), second by %g (want 0)", d1, d2)
	}
	long := strings.Repeat("a red circle, ", 30)
	if c := ctx(1, long); !nn.SameShape(c.Shape, []int{1, 154, 80}) {
		t.Errorf("long prompt: context %v, want (1, 154, 80)", c.Shape)
	}
	o := Options{Prompt: long, NegativePrompt: "blurry", Steps: 1, CFGScale: 5, Width: 32, Height: 32, Sampler: "euler", Stages: &Stages{}}
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}
