package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// loadTinyAdapters loads the tiny pipeline (fp32, or the fp16 file) with
// ../shared/testdata/lora as its LoRA folder and a folder holding its three
// embeddings as the embedding folder.
func loadTinyAdapters(t *testing.T, file string) *Model {
	t.Helper()
	dir := testdata.Dir(t, "pipeline")
	loraDir := testdata.Dir(t, "lora")
	emb := t.TempDir()
	for _, f := range []string{"emb_a1111.pt", "emb_st.safetensors", "learned_embeds.bin"} {
		b, err := os.ReadFile(filepath.Join(loraDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(emb, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(filepath.Join(dir, file), LoadOptions{Config: filepath.Join(dir, "diffusers"), LoraDir: loraDir, EmbeddingDir: emb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// samplerOf maps the reference's scheduler names to ours.
func samplerOf(ref string) string {
	if ref == "dpmpp_2m" {
		return "dpm++2m"
	}
	return ref
}

// Every run of ../shared/testdata/lora/runs reproduces: the prompt as a
// user types it (with its <lora:…> tags and trigger words) gives the
// reference's ids (0 in the embedding slots), text-encoder output, latents
// at every step, image and PNG (±1) within the pipeline's parity tolerances.
func TestAdapterRuns(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	runs, err := filepath.Glob(filepath.Join(testdata.Dir(t, "lora"), "runs", "*.safetensors"))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no runs: %v", err)
	}
	for _, path := range runs {
		name := strings.TrimSuffix(filepath.Base(path), ".safetensors")
		t.Run(name, func(t *testing.T) {
			ref, err := weights.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			md := ref.Metadata
			steps, _ := strconv.Atoi(md["steps"])
			stages := &Stages{}
			res, err := m.Generate(context.Background(), Options{
				Prompt: md["a1111_prompt"], NegativePrompt: md["negative_prompt"], Steps: steps, CFGScale: 7.5,
				Seed: 42, Width: 32, Height: 32, Sampler: samplerOf(md["scheduler"]), Stages: stages,
			})
			if err != nil {
				t.Fatal(err)
			}
			want := func(n string) *nn.Tensor {
				x, err := ref.Tensor(n)
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			ids, _, err := ref.Int64s("ids_cond")
			if err != nil {
				t.Fatal(err)
			}
			got := stages.ids("ids_cond")
			if fmt.Sprint(got) != fmt.Sprint(ids) {
				t.Errorf("ids_cond\n got %v\nwant %v", got, ids)
			}
			compareRel(t, "cond", stages.Tensor("context_cond"), want("w32.cond"), 1e-5)
			compareRel(t, "uncond", stages.Tensor("context_uncond"), want("w32.uncond"), 1e-5)
			for i := 0; ; i++ {
				n := fmt.Sprintf("step%d.latents", i)
				if _, ok := ref.Info("w32." + n); !ok {
					break
				}
				compareRel(t, n, stages.Tensor(fmt.Sprintf("latents_step%d", i)), want("w32."+n), 1e-5)
			}
			compareRel(t, "final", lastLatents(stages), want("w32.final_latents"), 1e-5)
			compareRel(t, "image", stages.Tensor("image"), want("w32.image"), 1e-4)
			comparePNG(t, strings.TrimSuffix(path, ".safetensors")+".png", res[0].Image)

			// The parameters keep the prompt as typed and record the hashes.
			var loras [][]any
			json.Unmarshal([]byte(md["loras"]), &loras)
			p := res[0].Parameters
			if !strings.HasPrefix(p, md["a1111_prompt"]+"\n") {
				t.Errorf("parameters do not start with the typed prompt: %q", p)
			}
			if len(loras) > 0 && !strings.Contains(p, `Lora hashes: "`+loras[0][0].(string)+": ") {
				t.Errorf("parameters lack Lora hashes: %q", p)
			}
			if strings.HasPrefix(name, "emb_") && !strings.Contains(p, `TI hashes: "`) {
				t.Errorf("parameters lack TI hashes: %q", p)
			}
		})
	}
}

// comparePNG fails when img differs from the PNG file by more than one level.
func comparePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0
	b := ref.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := ref.At(x, y).RGBA()
			r2, g2, b2, _ := img.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > 1 {
		t.Errorf("PNG differs by %d levels", worst)
	}
}

// ids returns the recorded token ids of name.
func (s *Stages) ids(name string) []int64 {
	for _, e := range s.entries {
		if e.Name == name {
			return e.Int
		}
	}
	return nil
}

// run generates the reference prompt's euler 4-step image with prompt.
func runTiny(t *testing.T, m *Model, prompt string) (*Stages, Result) {
	t.Helper()
	stages := &Stages{}
	res, err := m.Generate(context.Background(), Options{
		Prompt: prompt, Steps: 4, CFGScale: 7.5, Seed: 42, Width: 32, Height: 32, Sampler: "euler", Stages: stages,
	})
	if err != nil {
		t.Fatal(err)
	}
	return stages, res[0]
}

// Multiplier 0 gives the base image exactly, and so does the base prompt
// after any adapter set (the undo is exact), in either order.
func TestAdapterZeroAndUndo(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	base, _ := runTiny(t, m, refPrompt)
	same := func(what string, s *Stages) {
		t.Helper()
		a, b := base.Tensor("image"), s.Tensor("image")
		for i := range a.Data {
			if a.Data[i] != b.Data[i] {
				t.Fatalf("%s: image[%d] = %g, the base image's %g", what, i, b.Data[i], a.Data[i])
			}
		}
	}
	z, _ := runTiny(t, m, refPrompt+" <lora:kohya:0>")
	same("<lora:kohya:0>", z)
	runTiny(t, m, refPrompt+" <lora:loha:1> <lora:locon:-0.7>")
	again, _ := runTiny(t, m, refPrompt)
	same("base prompt after loha+locon", again)
	z2, _ := runTiny(t, m, refPrompt+" <lora:kohya:0> <lora:lokr:0.0>")
	same("two adapters at 0", z2)
}

// The fp16 checkpoint (weights memory-mapped in half precision) with a LoRA:
// the touched weights get private half-precision copies, so the image is
// the reference's fp16 run within fp16 rounding of the merged weights.
func TestAdapterFP16(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.fp16.safetensors")
	path := filepath.Join(testdata.Dir(t, "lora"), "runs", "kohya_0.8_euler_4.safetensors")
	ref, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	s, _ := runTiny(t, m, ref.Metadata["a1111_prompt"])
	img, _ := ref.Tensor("w16.image")
	compareRel(t, "w16 image", s.Tensor("image"), img, 5e-3) // measured 1.5e-3: the merged weights rounded to fp16 (w16 vs w32 differ by 6.9e-3)
	cond, _ := ref.Tensor("w16.cond")
	compareRel(t, "w16 cond", s.Tensor("context_cond"), cond, 2e-3) // measured 6.4e-4
}

func TestParseLoraTags(t *testing.T) {
	for _, c := range []struct {
		in, text, refs string
		err            bool
	}{
		{"a castle <lora:watercolor:0.8>", "a castle ", "[{watercolor 0.8 <nil>}]", false},
		{"<lora:a> x <lyco:b:-1.5>, <hypernet:h:1>", " x , ", "[{a 1 <nil>} {b -1.5 <nil>}]", false},
		{"no tags", "no tags", "[]", false},
		{"<lora:a:x>", "", "", true},
		{"<lora:a:1:0.5:2>", "", "", true},
		{"<lora:a:0:1>", "", "", false},
		{"<lora:a:1:z>", "", "", true},
		{"<lora:a:NaN>", "", "", true},
		{"<lora:a:1e39>", "", "", true},
		{"<lora:a:-11>", "", "", true},
		{"<lora:a:1:Inf>", "", "", true},
		{"<lora:a:-10>", "", "[{a -10 <nil>}]", false},
	} {
		text, refs, _, err := parseLoraTags(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: err = %v", c.in, err)
			continue
		}
		if !c.err && c.refs != "" && (text != c.text || fmt.Sprint(refs) != c.refs) {
			t.Errorf("%q: got %q %v, want %q %s", c.in, text, refs, c.text, c.refs)
		}
	}
}

// Unknown LoRA names fail with the name, or are skipped with a warning.
func TestAdapterErrors(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	opts := Options{Prompt: "x <lora:nosuch:1>", Steps: 1, Width: 32, Height: 32, Sampler: "euler"}
	if _, err := m.Generate(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("err = %v, want one naming nosuch", err)
	}
	var warnings []string
	opts.LoraSkipUnknown, opts.Warn = true, func(s string) { warnings = append(warnings, s) }
	if _, err := m.Generate(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], "nosuch") {
		t.Errorf("warnings %q, want one naming nosuch", warnings)
	}
	// --lora FILE:W works without a folder and is recorded by its file name.
	opts = Options{Prompt: "x", Steps: 1, Width: 32, Height: 32, Sampler: "euler",
		Loras: []LoraFile{{Path: filepath.Join(testdata.Dir(t, "lora"), "lokr.safetensors"), Multiplier: 0.5}}}
	res, err := m.Generate(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res[0].Parameters, `Lora hashes: "lokr: 99311d53a524"`) { // sha256 of the data after the header, 12 digits
		t.Errorf("parameters %q lack the lokr hash", res[0].Parameters)
	}
	infos, err := m.Loras()
	if err != nil || len(infos) < 7 {
		t.Errorf("Loras() = %d files, %v", len(infos), err)
	}
	embs, err := m.Embeddings()
	if err != nil || len(embs) != 3 || embs[0].Trigger+" "+embs[1].Trigger+" "+embs[2].Trigger != "<toy> emb_a1111 emb_st" {
		t.Errorf("Embeddings() = %v, %v", embs, err)
	}
}

// An SD 2.x LoRA named by the kohya rule applies to the SD 2.x model
// whether it was loaded from a diffusers folder or from a single file with
// OpenCLIP's text-encoder names (fused q/k/v split by the loader's view):
// both get the same merged weights. An SD 1.x LoRA on it fails on shapes,
// naming the file and the tensor.
func TestAdapterSD2(t *testing.T) {
	folder, single := sd2Fixture(t)
	dir := t.TempDir()
	mf, err := Load(folder, LoadOptions{LoraDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	ms, err := Load(single, LoadOptions{LoraDir: dir, Tokenizer: filepath.Join(folder, "tokenizer"), Config: folder})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	// A rank-2 LoRA on every attention and MLP linear of both networks.
	under := strings.NewReplacer(".", "_")
	var entries []weights.Entry
	add := func(key string, shape []int, seed int) {
		out, cols := shape[0], nn.Numel(shape)/shape[0]
		down, up := make([]float32, 2*cols), make([]float32, out*2)
		for i := range down {
			down[i] = float32((i*7+seed)%13-6) / 50
		}
		for i := range up {
			up[i] = float32((i*5+seed)%11-5) / 50
		}
		entries = append(entries,
			weights.Entry{Name: key + ".lora_down.weight", DType: weights.F32, Shape: []int{2, cols}, Float: down},
			weights.Entry{Name: key + ".lora_up.weight", DType: weights.F32, Shape: []int{out, 2}, Float: up})
	}
	seed := 0
	for n, w := range mf.UNet.Weights {
		if strings.Contains(n, "attn") && strings.HasSuffix(n, ".weight") {
			add("lora_unet_"+under.Replace(strings.TrimSuffix(n, ".weight")), w.Shape, seed)
			seed++
		}
	}
	for n, w := range mf.Text.Weights {
		if strings.Contains(n, "layers.") && len(w.Shape) == 2 {
			add("lora_te_"+under.Replace(strings.TrimSuffix(n, ".weight")), w.Shape, seed)
			seed++
		}
	}
	if err := weights.Write(filepath.Join(dir, "sd2lora.safetensors"), entries, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Model{mf, ms} {
		if _, err := m.Generate(context.Background(), Options{Prompt: "x <lora:sd2lora:0.7>", Steps: 1, Width: 32, Height: 32, Sampler: "euler"}); err != nil {
			t.Fatal(err)
		}
	}
	// The single file is fp16, the folder fp32: equal within fp16 rounding,
	// and both differ from the base by the LoRA.
	checked := 0
	for n, w := range mf.Text.Weights {
		if len(w.Shape) == 2 && strings.Contains(n, "layers.") {
			got := ms.Text.Weights[n]
			if got == nil {
				t.Errorf("%s: not in the single file's model", n)
				continue
			}
			compareRel(t, n, nn.From(got.Floats(), got.Shape...), nn.From(w.Floats(), w.Shape...), 2e-3)
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no text-encoder weights compared")
	}
	// SD 1.x's LoRA on SD 2.x: the text encoder is 64 wide here, 32 there.
	_, err = mf.Generate(context.Background(), Options{Prompt: "x", Steps: 1, Width: 32, Height: 32, Sampler: "euler",
		Loras: []LoraFile{{Path: filepath.Join(testdata.Dir(t, "lora"), "kohya.safetensors"), Multiplier: 1}}})
	if err == nil || !strings.Contains(err.Error(), "kohya.safetensors") || !strings.Contains(err.Error(), "another model") {
		t.Errorf("err = %v, want a shape error naming the file", err)
	}
}

// Generations with different adapter sets at the same time each get their
// own set: the images equal those made one after another.
func TestAdapterConcurrent(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	prompts := []string{refPrompt, refPrompt + " <lora:kohya:0.8>", refPrompt + " <lora:loha:0.8>"}
	want := map[string][]float32{}
	for _, p := range prompts {
		s, _ := runTiny(t, m, p)
		want[p] = s.Tensor("image").Data
	}
	errs := make(chan error, 3*len(prompts))
	for range 3 {
		for _, p := range prompts {
			go func() {
				stages := &Stages{}
				_, err := m.Generate(context.Background(), Options{Prompt: p, Steps: 4, CFGScale: 7.5, Seed: 42, Width: 32, Height: 32, Sampler: "euler", Stages: stages})
				if err == nil && fmt.Sprint(stages.Tensor("image").Data) != fmt.Sprint(want[p]) {
					err = fmt.Errorf("%q: image differs from the sequential one", p)
				}
				errs <- err
			}()
		}
	}
	for range 3 * len(prompts) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A trigger word in the negative prompt takes its slots there: a negative
// prompt that is the emb_st run's prompt encodes to that run's ids and
// context, and the parameters record the embedding's hash.
func TestAdapterNegativeEmbedding(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	ref, err := weights.Open(filepath.Join(testdata.Dir(t, "lora"), "runs", "emb_st_euler_4.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	stages := &Stages{}
	res, err := m.Generate(context.Background(), Options{
		Prompt: refPrompt, NegativePrompt: ref.Metadata["a1111_prompt"], Steps: 1, CFGScale: 7.5,
		Seed: 42, Width: 32, Height: 32, Sampler: "euler", Stages: stages,
	})
	if err != nil {
		t.Fatal(err)
	}
	ids, _, err := ref.Int64s("ids_cond")
	if err != nil {
		t.Fatal(err)
	}
	if got := stages.ids("ids_uncond"); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("ids_uncond\n got %v\nwant %v", got, ids)
	}
	want, err := ref.Tensor("w32.cond") // (1, 77, 32)
	if err != nil {
		t.Fatal(err)
	}
	compareRel(t, "uncond", stages.Tensor("context_uncond"), want, 1e-5)
	if p := res[0].Parameters; !strings.Contains(p, `TI hashes: "emb_st: `) {
		t.Errorf("parameters lack the negative prompt's TI hash: %q", p)
	}
}

// infotextField is AUTOMATIC1111's "Key: value" of a parameters line, the
// value plain or a quoted string (modules/infotext_utils.py re_param_code).
var infotextField = regexp.MustCompile(`\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`)

// The parameters written with <lora:…> tags and an embedding are enough to
// make the image again: a model loaded afresh, given the settings read back
// from the text and the files its "Lora hashes" and "TI hashes" name (their
// hashes checked), makes the same image bit for bit.
func TestAdapterReproduce(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	first := &Stages{}
	res, err := m.Generate(context.Background(), Options{
		Prompt: refPrompt + " <lora:kohya:0.5> <lora:loha:1>", NegativePrompt: "emb_st", Steps: 3, CFGScale: 6,
		Seed: 7, Width: 32, Height: 32, Sampler: "dpm++2m", Stages: first,
	})
	if err != nil {
		t.Fatal(err)
	}
	text := res[0].Parameters
	lines := strings.Split(text, "\n")
	if len(lines) != 3 {
		t.Fatalf("parameters %q: want prompt, negative prompt and settings lines", text)
	}
	o := Options{Prompt: lines[0], Stages: &Stages{}}
	var ok bool
	if o.NegativePrompt, ok = strings.CutPrefix(lines[1], "Negative prompt: "); !ok {
		t.Fatalf("second line %q", lines[1])
	}
	fields := map[string]string{}
	for _, f := range infotextField.FindAllStringSubmatch(lines[2], -1) {
		v := f[2]
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		fields[f[1]] = v
	}
	var err2 error
	atoi := func(k string) int {
		n, err := strconv.Atoi(fields[k])
		if err != nil {
			err2 = fmt.Errorf("%s: %v", k, err)
		}
		return n
	}
	o.Steps = atoi("Steps")
	o.Seed = uint64(atoi("Seed"))
	if _, err := fmt.Sscanf(fields["Size"], "%dx%d", &o.Width, &o.Height); err != nil {
		t.Fatalf("Size %q: %v", fields["Size"], err)
	}
	if o.CFGScale, err = strconv.ParseFloat(fields["CFG scale"], 64); err != nil || err2 != nil {
		t.Fatalf("parameters %q: %v %v", text, err, err2)
	}
	for s, label := range samplerLabels {
		if label == fields["Sampler"] {
			o.Sampler = s
		}
	}
	// Each hash names the file the folders hold under that name.
	hashes := map[string]string{}
	for _, k := range []string{"Lora hashes", "TI hashes"} {
		for _, item := range strings.Split(fields[k], ", ") {
			name, h, _ := strings.Cut(item, ": ")
			hashes[name] = h
		}
	}
	loraDir := testdata.Dir(t, "lora")
	for name, file := range map[string]string{"kohya": "kohya.safetensors", "loha": "loha.safetensors", "emb_st": "emb_st.safetensors"} {
		var short string
		if name == "emb_st" {
			e, err := lora.OpenEmbedding(filepath.Join(loraDir, file))
			if err != nil {
				t.Fatal(err)
			}
			short = e[0].ShortHash()
		} else {
			a, err := lora.Open(filepath.Join(loraDir, file))
			if err != nil {
				t.Fatal(err)
			}
			short = a.ShortHash()
		}
		if hashes[name] != short {
			t.Errorf("parameters record %s: %q, the file's hash is %q (%q)", name, hashes[name], short, text)
		}
	}
	again, err := loadTinyAdapters(t, "sd_tiny.safetensors").Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Parameters != text {
		t.Errorf("parameters\n got %q\nwant %q", again[0].Parameters, text)
	}
	a, b := first.Tensor("image"), o.Stages.Tensor("image")
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("image[%d] = %g made again from the parameters, %g first", i, b.Data[i], a.Data[i])
		}
	}
}

// A file with a module the model lacks and a tensor of no known kind fails,
// naming the file and the tensors; with LoraSkipUnknown the rest applies
// and one warning gives the count.
func TestAdapterUnmapped(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.safetensors")
	src, err := weights.Open(filepath.Join(testdata.Dir(t, "lora"), "kohya.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var entries []weights.Entry
	for _, n := range src.Names() {
		x, err := src.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, weights.Entry{Name: n, DType: weights.F32, Shape: x.Shape, Float: x.Data})
	}
	entries = append(entries,
		weights.Entry{Name: "lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight", DType: weights.F32, Shape: []int{4, 32}, Float: make([]float32, 4*32)},
		weights.Entry{Name: "lora_unet_down_blocks_9_attentions_0_proj_in.lora_up.weight", DType: weights.F32, Shape: []int{32, 4}, Float: make([]float32, 32*4)},
		weights.Entry{Name: "lora_unet_mid_block_attentions_0_proj_in.dora_scale", DType: weights.F32, Shape: []int{1, 32}, Float: make([]float32, 32)})
	dir := t.TempDir()
	path := filepath.Join(dir, "odd.safetensors")
	if err := weights.Write(path, entries, nil, false); err != nil {
		t.Fatal(err)
	}
	o := Options{Prompt: refPrompt, Steps: 1, Width: 32, Height: 32, Sampler: "euler", Loras: []LoraFile{{Path: path, Multiplier: 0.8}}}
	_, err = m.Generate(context.Background(), o)
	for _, want := range []string{path, "lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight", "lora_unet_mid_block_attentions_0_proj_in.dora_scale"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
	var warnings []string
	o.LoraSkipUnknown, o.Warn = true, func(s string) { warnings = append(warnings, s) }
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "2 modules skipped") {
		t.Errorf("warnings %q, want one counting 2 skipped", warnings)
	}
}

// A LoRA on the fp16 checkpoint copies only the weights it touches: every
// other weight keeps its memory-mapped half-precision data (the same
// memory), each touched one gets a private half-precision copy (the patch's
// bytes are exactly theirs), and the next generation without adapters
// puts the mapped data back.
func TestAdapterFP16Shared(t *testing.T) {
	m := loadTinyAdapters(t, "sd_tiny.fp16.safetensors")
	ref, err := weights.Open(filepath.Join(testdata.Dir(t, "lora"), "merged", "locon.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	touched := map[string]bool{}
	for _, n := range ref.Names() {
		touched[n] = true
	}
	all := map[string]*nn.Tensor{}
	for n, w := range m.UNet.Weights {
		all[lora.UNetPrefix+n] = w
	}
	for n, w := range m.Text.Weights {
		all[lora.TextPrefix+n] = w
	}
	mapped := map[string]*uint16{}
	for n, w := range all {
		if w.Half != nil {
			mapped[n] = unsafe.SliceData(w.Half)
		}
	}
	if len(mapped) == 0 {
		t.Fatal("no half-precision weights: not the fp16 checkpoint?")
	}
	runTiny(t, m, refPrompt+" <lora:locon:0.8>")
	var copied int64
	for n, p := range mapped {
		w := all[n]
		switch {
		case w.Half == nil:
			t.Errorf("%s: no longer half precision", n)
		case touched[n] && unsafe.SliceData(w.Half) == p:
			t.Errorf("%s: changed by the LoRA but still the mapped data", n)
		case !touched[n] && unsafe.SliceData(w.Half) != p:
			t.Errorf("%s: not in the LoRA but copied", n)
		}
		if touched[n] {
			copied += int64(2 * len(w.Half))
		}
	}
	if p := m.adapters.patch; p == nil || p.Bytes != copied || p.Weights != len(touched) {
		t.Errorf("patch %+v, want %d weights, %d bytes", p, len(touched), copied)
	}
	runTiny(t, m, refPrompt)
	for n, p := range mapped {
		if unsafe.SliceData(all[n].Half) != p {
			t.Errorf("%s: not the mapped data again after the adapters were undone", n)
		}
	}
}
