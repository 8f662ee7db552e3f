package main

import (
	"bytes"
	"context"
	"fmt"
	fig "github.com/sdgo/sdgo/internal/figure"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/rng"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/shapes"
)

// tinyModel loads the tiny random SD1-style model of the reference data
// (32×32 images, 16×16 latents), or skips.
func tinyModel(t *testing.T) *pipeline.Model {
	t.Helper()
	dir := testdata.Dir(t, "pipeline/diffusers")
	m, err := pipeline.Load(dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fastSetup is the running example made small: few steps, small pictures.
func fastSetup() setup {
	s := defaultSetup()
	s.Steps, s.Side = 3, 24
	s.Note = "tiny random model"
	s.Scales = []float64{1, 7.5}
	s.Samplers = []string{"euler", "dpm++2m"}
	s.HeldOut = sdmini.EvalOptions{N: 3, Steps: 3, CFGScale: 2, Sampler: "euler_a", Seed: 1}
	s.LoraSeeds = []uint64{1, 2}
	return s
}

// checkPNG reports whether path is a PNG that decodes, of at least minW wide.
func checkPNG(t *testing.T, path string, minW int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < minW || b.Dy() < 8 {
		t.Errorf("%s: %v, too small", path, b)
	}
}

// Every figure's generator runs on the tiny model and writes a PNG that decodes.
func TestFigures(t *testing.T) {
	g := &gen{model: tinyModel(t), dir: testdata.Dir(t, "pipeline/diffusers"), s: fastSetup()}
	g.s.LoraFile = filepath.Join(testdata.Dir(t, "lora"), "kohya.safetensors") // one that fits the tiny model
	dir := t.TempDir()
	var log bytes.Buffer
	if err := g.write(dir, figures, &log); err != nil {
		t.Fatal(err)
	}
	for _, f := range figures {
		checkPNG(t, filepath.Join(dir, f.Name+".png"), 2*g.s.Side)
	}
}

// Without a model only the model-free figures are drawn; the others are
// skipped with a note.
func TestFiguresWithoutModel(t *testing.T) {
	g := &gen{s: fastSetup()}
	dir := t.TempDir()
	var log bytes.Buffer
	if err := g.write(dir, figures, &log); err != nil {
		t.Fatal(err)
	}
	for _, f := range figures {
		_, err := os.Stat(filepath.Join(dir, f.Name+".png"))
		if f.NeedsModel != (err != nil) {
			t.Errorf("%s: needs a model: %v, written: %v", f.Name, f.NeedsModel, err == nil)
		}
		if f.NeedsModel && !strings.Contains(log.String(), f.Name+": skipped") {
			t.Errorf("%s: no skip note in %q", f.Name, log.String())
		}
	}
}

// The step figure reads a --dump-stages folder, with or without a model to decode.
func TestStepsFromDump(t *testing.T) {
	m := tinyModel(t)
	s := fastSetup()
	st := &pipeline.Stages{}
	o := s.options()
	o.Stages = st
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	dump := t.TempDir()
	if err := st.Write(dump, false); err != nil {
		t.Fatal(err)
	}
	for _, model := range []*pipeline.Model{nil, m} {
		g := &gen{model: model, stages: dump, s: s}
		out := t.TempDir()
		if err := g.write(out, figures[1:2], &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		checkPNG(t, filepath.Join(out, "steps.png"), 4*s.Side)
	}
	g := &gen{stages: t.TempDir(), s: s}
	if _, err := g.figSteps(); err == nil {
		t.Error("an empty -stages folder gave no error")
	}
}

// The attention figure refuses prompts whose tokens the pipeline would read
// differently (emphasis, BREAK) and prompts longer than one chunk.
func TestAttentionPromptChecks(t *testing.T) {
	m := tinyModel(t)
	for _, p := range []string{"a (red:1.2) circle", "a circle BREAK a square", strings.Repeat("circle ", 80), ""} {
		s := fastSetup()
		s.Prompt = p
		if _, err := (&gen{model: m, s: s}).figAttention(); err == nil {
			t.Errorf("%q: no error", p)
		}
	}
}

func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-only", "nope"},
		{"-side", "2"},
		{"-scales", "1,x"},
		{"extra"},
		{"-model", filepath.Join(t.TempDir(), "missing")},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	out := t.TempDir()
	if err := run([]string{"-out", out, "-only", "schedule", "-steps", "10"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, filepath.Join(out, "schedule.png"), 600)
}

// -model sd-mini loads the model built into sdgo.
func TestBuiltinModel(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // sdmini.Path extracts there, not into the user's cache
	out := t.TempDir()
	if err := run([]string{"-model", builtin, "-out", out, "-only", "schedule"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, filepath.Join(out, "schedule.png"), 600)
}

func TestPickSteps(t *testing.T) {
	for _, c := range []struct {
		total, n int
		want     string
	}{
		{3, 6, "[0 1 2]"},
		{20, 6, "[2 6 9 12 16 19]"},
		{6, 6, "[0 1 2 3 4 5]"},
		{7, 2, "[3 6]"},
	} {
		if got := fmt.Sprint(pickSteps(c.total, c.n)); got != c.want {
			t.Errorf("pickSteps(%d, %d) = %s, want %s", c.total, c.n, got, c.want)
		}
	}
}

// unetShapes, derived from the config, agrees with the shapes a traced
// forward pass of the tiny U-Net reports, name by name.
func TestUNetShapes(t *testing.T) {
	m := tinyModel(t).UNet
	traced := map[string][]int{}
	m.Trace = func(name string, x *nn.Tensor) { traced[name] = append([]int(nil), x.Shape...) }
	defer func() { m.Trace = nil }()
	const b, h, w = 2, 16, 16
	x := nn.New(b, 4, h, w)
	ctx := nn.New(b, 77, m.Config.CrossAttentionDim)
	out, err := m.Forward(x, []float32{500}, ctx)
	if err != nil {
		t.Fatal(err)
	}
	traced["(output)"] = out.Shape
	rows := unetShapes(m.Config, b, h, w)
	for _, r := range rows {
		got, ok := traced[r.Name]
		if !ok {
			t.Errorf("%s: not traced", r.Name)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(r.Shape) {
			t.Errorf("%s: traced %v, unetShapes says %v", r.Name, got, r.Shape)
		}
		var i, j int
		if n, _ := fmt.Sscanf(r.Name, "up%d.resnet%d", &i, &j); n == 2 {
			if in := m.UpBlocks[i].Resnets[j].Conv1.Weight.Shape[1]; in != r.In {
				t.Errorf("%s: conv1 takes %d channels, unetShapes says %d", r.Name, in, r.In)
			}
		}
	}
	// Every block-level name traced is in the table.
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r.Name] = true
	}
	for name := range traced {
		if !strings.Contains(name, ".tb") && !strings.HasSuffix(name, ".proj_in") && !listed[name] { // inside a transformer: not block level
			t.Errorf("traced %s is missing from unetShapes", name)
		}
	}
}

// The recomputed cross-attention probabilities are the U-Net's: with them,
// out = to_out(P·V) reproduces the attn2 output the trace reports, for
// every transformer of the tiny model.
func TestCrossProbsReproduceAttn2(t *testing.T) {
	m := tinyModel(t).UNet
	const b, h, w = 2, 16, 16
	x := nn.New(b, 4, h, w)
	ctx := nn.New(b, 77, m.Config.CrossAttentionDim)
	src := rng.NewTorchCPU(1)
	src.Normal(x.Data)
	src.Normal(ctx.Data)
	cond := fig.CondHalf(ctx)

	var last *nn.Tensor
	attn1 := map[string]*nn.Tensor{}
	inputs := map[string]*nn.Tensor{}
	checked := 0
	var errs []error
	var worst float64 // max |Δ| / max(1, max |attn2|) over the transformers
	m.Trace = func(name string, act *nn.Tensor) {
		switch {
		case strings.Contains(name, ".resnet") && !strings.Contains(name, ".attn"):
			last = fig.CondHalf(act)
		case strings.HasSuffix(name, ".tb0.attn1"):
			blk := strings.TrimSuffix(name, ".tb0.attn1")
			attn1[blk], inputs[blk] = fig.CondHalf(act), last
		case strings.HasSuffix(name, ".tb0.attn2"):
			blk := strings.TrimSuffix(name, ".tb0.attn2")
			tr, err := fig.Transformer(m, blk)
			if err != nil {
				errs = append(errs, err)
				return
			}
			p := fig.CrossProbs(tr, inputs[blk], attn1[blk], cond) // (heads, N, M)
			a := tr.TransformerBlocks[0].Attn2
			v := a.ToV.Forward(cond) // (1, M, C)
			heads, n, mm := p.Shape[0], p.Shape[1], p.Shape[2]
			c := v.Shape[2]
			dh := c / heads
			o := nn.New(1, n, c)
			for hd := range heads {
				nn.MatMul(false, false, n, dh, mm, p.Data[hd*n*mm:], mm, v.Data[hd*dh:], c, 0, o.Data[hd*dh:], c)
			}
			want := fig.CondHalf(act)
			got := a.ToOut.Forward(o)
			var maxAbs, maxRef float64
			for i := range got.Data {
				maxAbs = math.Max(maxAbs, math.Abs(float64(got.Data[i]-want.Data[i])))
				maxRef = math.Max(maxRef, math.Abs(float64(want.Data[i])))
			}
			if maxAbs > 1e-5*math.Max(1, maxRef) {
				errs = append(errs, fmt.Errorf("%s: to_out(P·V) differs from attn2 by %.3g (max |attn2| %.3g)", blk, maxAbs, maxRef))
			}
			worst = math.Max(worst, maxAbs/math.Max(1, maxRef))
			checked++
		}
	}
	defer func() { m.Trace = nil }()
	if _, err := m.Forward(x, []float32{500}, ctx); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no transformer checked")
	}
	t.Logf("%d transformers: max |to_out(P·V) − attn2| ≤ %.3g (relative to max(1, max|attn2|))", checked, worst)
	for _, e := range errs {
		t.Error(e)
	}
}

// denoise, the pipeline written out stage by stage, computes exactly the
// latents (*pipeline.Model).Generate records, step by step, for
// deterministic and stochastic samplers, with and without guidance.
func TestDenoiseMatchesPipeline(t *testing.T) {
	m := tinyModel(t)
	for _, c := range []struct {
		sampler string
		cfg     float64
	}{{"euler", 7.5}, {"dpm++2m", 7.5}, {"euler_a", 7.5}, {"pndm", 7.5}, {"ddim", 1}} {
		s := fastSetup()
		s.Sampler, s.CFG = c.sampler, c.cfg
		st := &pipeline.Stages{}
		o := s.options()
		o.Stages = st
		if _, err := m.Generate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		var maxAbs float64
		steps := 0
		final, err := denoise(m, s, func(i int, l, x0 *nn.Tensor) {
			name := fmt.Sprintf("latents_step%d", i)
			if i < 0 {
				name = "latents_init"
			} else {
				steps++
			}
			want := st.Tensor(name)
			if want == nil || len(want.Data) != len(l.Data) {
				t.Errorf("%s: %s: pipeline recorded %v", c.sampler, name, want)
				return
			}
			for j := range want.Data {
				maxAbs = math.Max(maxAbs, math.Abs(float64(l.Data[j]-want.Data[j])))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := st.Tensor("latents_step" + fmt.Sprint(steps-1)); want == nil || fmt.Sprint(final.Data) != fmt.Sprint(want.Data) {
			t.Errorf("%s: final latent differs from the pipeline's", c.sampler)
		}
		if maxAbs != 0 {
			t.Errorf("%s, cfg %g: latents differ from the pipeline's by up to %g over %d steps", c.sampler, c.cfg, maxAbs, steps)
		}
	}
}

func TestVerdicts(t *testing.T) {
	full, err := shapes.ParseCaption("a small red circle on the left on a blue background")
	if err != nil {
		t.Fatal(err)
	}
	bare, err := shapes.ParseCaption("a red circle")
	if err != nil {
		t.Fatal(err)
	}
	r := shapes.Result{Count: true, Shape: false, Colour: true, Size: true, Position: false, Background: true}
	for _, c := range []struct {
		spec shapes.Spec
		want string
	}{
		{full, "[colour ok position NO shape NO size ok background ok count ok]"},
		{bare, "[colour ok shape NO count ok]"},
	} {
		if got := fmt.Sprint(verdicts(c.spec, r)); got != c.want {
			t.Errorf("%q: %s, want %s", c.spec, got, c.want)
		}
	}
	if got := fmt.Sprint(verdictLines(verdicts(full, r), 24)); got != "[[colour ok position NO] [shape NO size ok] [background ok count ok]]" {
		t.Errorf("verdictLines: %s", got)
	}
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want []string
	}{
		{"a large orange triangle at the bottom on a purple background", 24, []string{"a large orange triangle", "at the bottom on a", "purple background"}},
		{"  ", 10, nil},
		{"a verylongword b", 5, []string{"a", "verylongword", "b"}},
	} {
		if got := wrap(c.s, c.n); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
