package unet

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Parity bounds of the reference README: every element within 1e-4 and
// within 3e-5 of the largest reference magnitude.
const (
	maxAbs = 1e-4
	maxRel = 3e-5
)

// compare checks every element of got against want and logs the figures.
func compare(t *testing.T, what string, got, want *nn.Tensor) {
	t.Helper()
	if !nn.SameShape(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, want.Shape)
		return
	}
	var worst, ref float64
	for i, w := range want.Data {
		ref = max(ref, math.Abs(float64(w)))
		d := math.Abs(float64(got.Data[i]) - float64(w))
		if d > worst || math.IsNaN(d) {
			worst = d
		}
	}
	rel := worst / ref
	t.Logf("%-28s max|Δ| %.3g  rel-to-max %.3g  (max|ref| %.3g)", what, worst, rel, ref)
	if !(worst <= maxAbs && rel <= maxRel) {
		t.Errorf("%s: max|Δ| %.3g (bound %.0g), relative to max %.3g (bound %.0g)", what, worst, maxAbs, rel, maxRel)
	}
}

// openSource opens a safetensors file and closes it when the test ends.
func openSource(t *testing.T, path string) *weights.File {
	t.Helper()
	f, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// keymapView presents an LDM single-file checkpoint under diffusers names
// using the reference's own keymap_diffusers_to_ldm.json (written by
// diffusers' converter): an independent check of the layouts, beside
// weights.UNetFromLDM.
func keymapView(t *testing.T, src weights.Source, keymap string) weights.Source {
	t.Helper()
	data, err := os.ReadFile(keymap)
	if err != nil {
		t.Fatal(err)
	}
	toLDM := map[string]string{}
	if err := json.Unmarshal(data, &toLDM); err != nil {
		t.Fatalf("%s: %v", keymap, err)
	}
	fromLDM := map[string]string{}
	for d, l := range toLDM {
		fromLDM[l] = d
	}
	return &weights.Renamed{
		Src:        src,
		ToSource:   func(n string) string { return toLDM[n] },
		FromSource: func(n string) string { return fromLDM[n] },
	}
}

// layout is how a checkpoint file names the U-Net's tensors.
type layout int

const (
	diffusers layout = iota // diffusers names, read as they are
	ldmView                 // original single-file names, through weights.UNetFromLDM
	ldmKeymap               // the same, through the reference's keymap_diffusers_to_ldm.json
)

// parityCase is one checkpoint file of a reference variant.
type parityCase struct {
	name    string
	variant string // reference folder: "unet" (SD1-style) or "unet/sd2"
	file    string // relative to the reference root
	ldm     layout // how the file names its tensors
	fp16    bool   // fp16 weights: compare with out_*_w16
}

var parityCases = []parityCase{
	{"sd1/diffusers", "unet", "unet/diffusion_pytorch_model.safetensors", diffusers, false},
	{"sd1/diffusers.fp16", "unet", "pipeline/diffusers/unet/diffusion_pytorch_model.fp16.safetensors", diffusers, true},
	{"sd1/ldm", "unet", "pipeline/sd_tiny.safetensors", ldmView, false},
	{"sd1/ldm.fp16", "unet", "pipeline/sd_tiny.fp16.safetensors", ldmView, true},
	{"sd1/ldm-keymap", "unet", "pipeline/sd_tiny.safetensors", ldmKeymap, false},
	{"sd2/diffusers", "unet/sd2", "unet/sd2/diffusion_pytorch_model.safetensors", diffusers, false},
	{"sd2/ldm.fp16", "unet/sd2", "unet/sd2/unet_ldm.fp16.safetensors", ldmView, true},
	{"sd2/ldm.fp16-keymap", "unet/sd2", "unet/sd2/unet_ldm.fp16.safetensors", ldmKeymap, true},
}

// openCase returns the case's weights in diffusers naming, its config and
// the reference io file.
func openCase(t *testing.T, pc parityCase) (weights.Source, Config, *weights.File) {
	dir := testdata.Dir(t, pc.variant)
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var src weights.Source = openSource(t, testdata.Path(t, pc.file))
	switch pc.ldm {
	case ldmView:
		src = weights.UNetFromLDM(src)
	case ldmKeymap:
		src = keymapView(t, src, filepath.Join(dir, "keymap_diffusers_to_ldm.json"))
	}
	return src, cfg, openSource(t, filepath.Join(dir, "io.safetensors"))
}

func tensor(t *testing.T, f *weights.File, name string) *nn.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestParity(t *testing.T) {
	for _, pc := range parityCases {
		t.Run(pc.name, func(t *testing.T) {
			src, cfg, io := openCase(t, pc)
			// fp16 files keep their weights in half precision, as the pipeline loads them.
			m, err := LoadPrecision(src, cfg, weights.KeepStored)
			if err != nil {
				t.Fatal(err)
			}
			if half := m.ConvIn.Weight.Half != nil; half != pc.fp16 {
				t.Errorf("conv_in weight in half precision: %v, want %v", half, pc.fp16)
			}
			x, ctx := tensor(t, io, "sample"), tensor(t, io, "encoder_hidden_states")
			for _, c := range []string{"a", "b"} {
				ts := tensor(t, io, "timestep_"+c).Data
				// Intermediates are recorded for case a with fp32 weights.
				got := map[string]*nn.Tensor{}
				m.Trace = nil
				if c == "a" && !pc.fp16 {
					m.Trace = func(name string, x *nn.Tensor) { got[name] = x.Clone() }
				}
				out, err := m.Forward(x, ts, ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.Trace != nil {
					for _, name := range io.Names() {
						n, ok := strings.CutPrefix(name, "a.")
						if !ok {
							continue
						}
						if got[n] == nil {
							t.Errorf("trace %q not recorded", n)
							continue
						}
						compare(t, name, got[n], tensor(t, io, name))
					}
				}
				want := "out_" + c
				if pc.fp16 {
					want += "_w16"
				}
				compare(t, want, out, tensor(t, io, want))
			}
		})
	}
}

func TestConfigFromWeights(t *testing.T) {
	for _, pc := range parityCases {
		t.Run(pc.name, func(t *testing.T) {
			src, want, _ := openCase(t, pc)
			got, err := ConfigFromWeights(src)
			if err != nil {
				t.Fatal(err)
			}
			// Neither the head count (SD2's tiny model has heads of dim 16,
			// not 64) nor the sample size is in the weights.
			if pc.variant == "unet/sd2" {
				got.Heads = want.Heads
			}
			got.SampleSize = want.SampleSize
			if !reflect.DeepEqual(got, want) {
				t.Errorf("inferred config\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	src, cfg, _ := openCase(t, parityCases[0])
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"context width", func(c *Config) { c.CrossAttentionDim = 64 }, "attn2.to_k.weight: shape [32 32], want [32 64]"},
		{"fewer levels", func(c *Config) {
			c.BlockOutChannels, c.Heads, c.TransformerLayersPerBlock = c.BlockOutChannels[:2], c.Heads[:2], c.TransformerLayersPerBlock[:2]
			c.DownBlockTypes, c.UpBlockTypes = c.DownBlockTypes[:2], c.UpBlockTypes[1:]
		}, "unexpected tensors: down_blocks.1.downsamplers.0.conv.bias"},
		{"invalid", func(c *Config) { c.Heads = []int{8} }, "attention_head_dim has 1 entries"},
	} {
		c := cfg
		c.Heads = append([]int(nil), cfg.Heads...)
		tc.edit(&c)
		_, err := Load(src, c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestForwardInputs(t *testing.T) {
	src, cfg, _ := openCase(t, parityCases[0])
	m, err := Load(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, ctx := nn.New(2, 4, 8, 8), nn.New(2, 77, 32)
	for _, tc := range []struct {
		name string
		x    *nn.Tensor
		t    []float32
		ctx  *nn.Tensor
		ok   bool
	}{
		{"per-sample timesteps", x, []float32{1, 2}, ctx, true},
		{"one timestep", x, []float32{1}, ctx, true},
		{"three timesteps", x, []float32{1, 2, 3}, ctx, false},
		{"latent channels", nn.New(2, 3, 8, 8), []float32{1}, ctx, false},
		{"latent rank", nn.New(2, 4, 64), []float32{1}, ctx, false},
		{"context width", x, []float32{1}, nn.New(2, 77, 768), false},
		{"context batch", x, []float32{1}, nn.New(1, 77, 32), false},
		{"no context", x, []float32{1}, nil, false},
	} {
		if _, err := m.Forward(tc.x, tc.t, tc.ctx); (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// Latent sides that are not multiples of 8 (images not multiples of 64 px):
// the upsamplers resize to the skip connection's size, as diffusers does.
func TestOddLatentSize(t *testing.T) {
	src, cfg, _ := openCase(t, parityCases[0])
	m, err := Load(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, hw := range [][2]int{{5, 7}, {9, 4}, {1, 1}} {
		x := nn.New(1, 4, hw[0], hw[1])
		out, err := m.Forward(x, []float32{10}, nn.New(1, 77, 32))
		if err != nil {
			t.Fatal(err)
		}
		if !nn.SameShape(out.Shape, x.Shape) {
			t.Errorf("latent %v: output %v", x.Shape, out.Shape)
		}
	}
	// At exactly twice the size, the resize is the plain ×2 nearest upsampling.
	x := nn.New(2, 3, 4, 5)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	if got, want := upsampleNearest(x, 8, 10), nn.UpsampleNearest2x(x); !reflect.DeepEqual(got, want) {
		t.Errorf("upsampleNearest(×2) differs from nn.UpsampleNearest2x")
	}
}

func TestFLOPs(t *testing.T) {
	cfg := SD15()
	one := FLOPs(cfg, 1, 64, 64)
	if two := FLOPs(cfg, 2, 64, 64); two != 2*one {
		t.Errorf("batch 2: %.4g FLOP, want twice %.4g", two, one)
	}
	// Without attention products, SD 1.5 is 339 G multiply-adds per 512×512 sample.
	var attn float64
	for level, side := range []int{64, 32, 16} {
		c := cfg.BlockOutChannels[level]
		n := side * side
		attn += 5 * 4 * float64(n) * float64(n+ContextLen) * float64(c) // 2 down + 3 up transformers
	}
	attn += 4 * 64 * float64(64+ContextLen) * 1280 // mid block at 8×8
	if macs := (one - attn) / 2 / 1e9; math.Abs(macs-339) > 0.5 {
		t.Errorf("SD 1.5 at 64×64: %.1f G multiply-adds outside attention, want 339", macs)
	}
}
