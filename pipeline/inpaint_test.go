package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// The runs of ../shared/testdata/inpaint (see its README.md).
var inpaintRuns = []struct {
	name, sampler  string
	karras, legacy bool
	steps          int
	strength       float64
	image, mask    string
	negative       string
	width          int
}{
	{"rect_euler_a_20", "euler_a", false, false, 20, 1, "init.png", "mask_rect.png", "", 32},
	{"blob_ddim_4", "ddim", false, false, 4, 0.75, "init.png", "mask_blob.png", "", 32},
	{"rect_dpmpp_2m_karras_8", "dpm++2m", true, false, 8, 1, "init.png", "mask_rect.png", "blurry", 32},
	{"legacy_rect_euler_4", "euler", false, true, 4, 1, "init.png", "mask_rect.png", "", 32},
	{"legacy_blob_ddim_4", "ddim", false, true, 4, 0.6, "init.png", "mask_blob.png", "", 32},
	{"outpaint_euler_a_8", "euler_a", false, false, 8, 1, "outpaint_right.png", "outpaint_right_mask.png", "", 48},
}

const inpaintPrompt = "a red vase of flowers on a table"

func readTestImage(t *testing.T, path string) image.Image {
	t.Helper()
	img, err := vae.ReadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// loadInpaintModels returns the models of the reference's w32 and w16 runs:
// for each, the 9-channel model and the 4-channel one (single files), and
// the two diffusers folders (fp16 weights).
func loadInpaintModels(t *testing.T) (w32, w16, w16folder [2]*Model) {
	dir := testdata.Dir(t, "inpaint")
	load := func(path string, opts LoadOptions) *Model {
		m, err := Load(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	cfg := LoadOptions{Config: filepath.Join(dir, "diffusers")}
	w16[0] = load(filepath.Join(dir, "sd_tiny_inpaint.fp16.safetensors"), cfg)
	w16folder[0] = load(filepath.Join(dir, "diffusers"), LoadOptions{})
	w16folder[1] = loadTiny(t, "diffusers")
	w16[1] = loadTiny(t, "sd_tiny.fp16.safetensors")
	// fp32 compute: the U-Net's weights are fp16-exact; text encoder and VAE
	// come from the fp32 4-channel model.
	w32[1] = loadTiny(t, "sd_tiny.safetensors")
	w32[0] = load(filepath.Join(dir, "sd_tiny_inpaint.fp16.safetensors"), cfg)
	w32[0].Text, w32[0].VAE = w32[1].Text, w32[1].VAE
	return w32, w16, w16folder
}

func TestInpaintParity(t *testing.T) {
	dir := testdata.Dir(t, "inpaint")
	w32, w16, folder := loadInpaintModels(t)
	// The diffusers folder's U-Net holds the same numbers as the single
	// file's (fp16-exact weights): with the fp32 text encoder and VAE it
	// must give every step of the w32 runs too.
	w32folder, err := Load(filepath.Join(dir, "diffusers"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w32folder.Close()
	w32folder.Text, w32folder.VAE = w32[1].Text, w32[1].VAE
	for _, r := range inpaintRuns {
		t.Run(r.name, func(t *testing.T) {
			ref, err := weights.Open(filepath.Join(dir, "runs", r.name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			want := func(n string) *nn.Tensor {
				t.Helper()
				x, err := ref.Tensor(n)
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			k := 0
			if r.legacy {
				k = 1
			}
			opts := Options{
				Prompt: inpaintPrompt, NegativePrompt: r.negative, Steps: r.steps, CFGScale: 7.5, Seed: 42,
				Width: r.width, Height: 32, Sampler: r.sampler, Karras: r.karras,
				InitImage: readTestImage(t, filepath.Join(dir, r.image)), Strength: r.strength,
				Inpaint: Inpaint{Mask: readTestImage(t, filepath.Join(dir, r.mask))},
			}
			gen := func(m *Model, o Options) (*Stages, *image.NRGBA) {
				t.Helper()
				o.Stages = &Stages{}
				res, err := m.Generate(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				return o.Stages, res[0].Image
			}
			// fp32 compute: the 9-channel U-Net from both layouts.
			w32s := []*Model{w32[k]}
			if !r.legacy {
				w32s = append(w32s, w32folder)
			}
			for i, m := range w32s {
				t.Logf("w32, %s", []string{"single file", "diffusers folder"}[i]) // names the failures below
				st, pasted := gen(m, opts)
				for _, n := range []string{"mask", "mask_latent", "masked_image"} {
					compareRel(t, n, st.Tensor(n), want(n), 0)
				}
				if !r.legacy {
					compareRel(t, "masked_image_latents", st.Tensor("masked_image_latents"), want("w32.masked_image_latents"), 1e-5)
				}
				if _, ok := ref.Info("w32.image_latents"); ok {
					compareRel(t, "image_latents", st.Tensor("image_latents"), want("w32.image_latents"), 1e-5)
				}
				compareRel(t, "latents_0", st.Tensor("latents_init"), want("w32.latents_0"), 1e-6)
				steps := 0
				for ; ; steps++ {
					n := fmt.Sprintf("w32.step%d.latents", steps)
					if _, ok := ref.Info(n); !ok {
						break
					}
					compareRel(t, n, st.Tensor(fmt.Sprintf("latents_step%d", steps)), want(n), 1e-5)
				}
				if steps == 0 {
					t.Fatal("reference has no step latents")
				}
				compareRel(t, "final", lastLatents(st), want("w32.final_latents"), 1e-5)
				compareAbs(t, "image", st.Tensor("image"), want("w32.image"), 1e-4)
				frame, err := vae.ToImages(st.Tensor("image"))
				if err != nil {
					t.Fatal(err)
				}
				compareU8(t, "image_u8", frame[0], wantU8(t, ref, "w32.image_u8"), 1)
				// Paste-back (the default): diffusers' apply_overlay with the raw mask.
				compareU8(t, "image_overlay_u8", pasted, wantU8(t, ref, "w32.image_overlay_u8"), 1)
			}

			// fp16 files: the single file and the diffusers folder, every
			// run (the reference records w16 final latents and images, not
			// each step's); the 20-step run too: its w16 final latents are
			// within 2.9e-6 of max |ref| (README: ≤ 1e-5·max), ≈ 3 s more.
			opts.NoPasteBack = true
			for _, m := range []*Model{w16[k], folder[k]} {
				st, img := gen(m, opts)
				if !r.legacy {
					compareRel(t, "w16 masked_image_latents", st.Tensor("masked_image_latents"), want("w16.masked_image_latents"), 1e-5)
				}
				compareRel(t, "w16 final", lastLatents(st), want("w16.final_latents"), 1e-5)
				compareAbs(t, "w16 image", st.Tensor("image"), want("w16.image"), 1e-4)
				compareU8(t, "w16 image_u8", img, wantU8(t, ref, "w16.image_u8"), 1)
			}
		})
	}
}

// compareAbs fails when an element of got differs from want by more than
// tol (the README's bound for decoded images: max abs ≤ 1e-4).
func compareAbs(t *testing.T, what string, got, want *nn.Tensor, tol float64) {
	t.Helper()
	if got == nil || !nn.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v, want shape %v", what, got, want.Shape)
	}
	var worst float64
	for i, w := range want.Data {
		if d := math.Abs(float64(got.Data[i] - w)); d > worst || math.IsNaN(d) {
			worst = d
		}
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: max |Δ| %.3g > %.1g", what, worst, tol)
	}
}

// u8 is a (H, W, 3) uint8 image tensor.
type u8 struct {
	data  []int64
	shape []int
}

func wantU8(t *testing.T, f *weights.File, name string) u8 {
	t.Helper()
	v, shape, err := f.Int64s(name)
	if err != nil {
		t.Fatal(err)
	}
	return u8{v, shape}
}

// compareU8 compares an image with a (H, W, 3) uint8 tensor, allowing tol levels.
func compareU8(t *testing.T, what string, img *image.NRGBA, want u8, tol int) {
	t.Helper()
	h, w := want.shape[0], want.shape[1]
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s: image %v, want %dx%d", what, b, w, h)
	}
	worst, n := 0, 0
	for p := 0; p < w*h; p++ {
		for c := 0; c < 3; c++ {
			d := int(img.Pix[4*p+c]) - int(want.data[3*p+c])
			worst = max(worst, d, -d)
			if d != 0 {
				n++
			}
		}
	}
	if worst > tol {
		t.Errorf("%s: %d values differ, by up to %d levels (> %d)", what, n, worst, tol)
	}
}

// The mask preprocessing equals diffusers' tensors element by element.
func TestInpaintInputs(t *testing.T) {
	dir := testdata.Dir(t, "inpaint")
	ref, err := weights.Open(filepath.Join(dir, "inputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, c := range []struct{ prefix, image, mask string }{
		{"rect.", "init.png", "mask_rect.png"},
		{"blob.", "init.png", "mask_blob.png"},
		{"outpaint.", "outpaint_right.png", "outpaint_right_mask.png"},
	} {
		t.Run(strings.TrimSuffix(c.prefix, "."), func(t *testing.T) {
			img, mask := readTestImage(t, filepath.Join(dir, c.image)), readTestImage(t, filepath.Join(dir, c.mask))
			w, h := img.Bounds().Dx(), img.Bounds().Dy()
			in, err := prepareInpaint(Options{Width: w, Height: h, InitImage: img, Inpaint: Inpaint{Mask: mask}}, 2)
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
			imgName := "init_image"
			if c.prefix == "outpaint." {
				imgName = "outpaint.init_image"
			}
			g, err := maskToGrey(mask)
			if err != nil {
				t.Fatal(err)
			}
			raw := nn.New(1, 1, h, w)
			for i, v := range g.pix {
				raw.Data[i] = float32(v) / 255
			}
			compareRel(t, "init_image", in.image, want(imgName), 0)
			compareRel(t, "mask_raw", raw, want(c.prefix+"mask_raw"), 0)
			compareRel(t, "mask", in.mask, want(c.prefix+"mask"), 0)
			compareRel(t, "mask_latent", in.maskLatent, want(c.prefix+"mask_latent"), 0)
			compareRel(t, "masked_image", in.masked, want(c.prefix+"masked_image"), 0)
		})
	}
}

// Paste-back is diffusers' apply_overlay (Pillow's integer arithmetic) bit
// for bit: the reference's decoded image pasted over init.png through the
// raw (grey-edged) mask gives its image_overlay_u8.
func TestPasteBack(t *testing.T) {
	dir := testdata.Dir(t, "inpaint")
	for _, r := range inpaintRuns {
		t.Run(r.name, func(t *testing.T) {
			ref, err := weights.Open(filepath.Join(dir, "runs", r.name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			gen := wantU8(t, ref, "w32.image_u8")
			h, w := gen.shape[0], gen.shape[1]
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			for p := 0; p < w*h; p++ {
				for c := 0; c < 3; c++ {
					img.Pix[4*p+c] = uint8(gen.data[3*p+c])
				}
				img.Pix[4*p+3] = 255
			}
			g, err := maskToGrey(readTestImage(t, filepath.Join(dir, r.mask)))
			if err != nil {
				t.Fatal(err)
			}
			orig := toNRGBA(readTestImage(t, filepath.Join(dir, r.image)))
			compareU8(t, "overlay", pasteBack(orig, img, g.overlayMask(false)), wantU8(t, ref, "w32.image_overlay_u8"), 0)
		})
	}
}

// Inpainting features beyond the reference runs, on the tiny models.
func TestInpaintFeatures(t *testing.T) {
	dir := testdata.Dir(t, "inpaint")
	w32, _, _ := loadInpaintModels(t)
	init := toNRGBA(readTestImage(t, filepath.Join(dir, "init.png")))
	rect := readTestImage(t, filepath.Join(dir, "mask_rect.png"))
	base := Options{Prompt: "a vase", Steps: 2, Width: 32, Height: 32, Seed: 1, Sampler: "euler", InitImage: init, Strength: 1}
	gen := func(m *Model, o Options) (*image.NRGBA, *Stages) {
		t.Helper()
		o.Stages = &Stages{}
		res, err := m.Generate(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Image, o.Stages
	}
	// An inpainting model without a mask (txt2img) repaints everything.
	txt := base
	txt.InitImage = nil
	if _, st := gen(w32[0], txt); st.Tensor("masked_image_latents") == nil {
		t.Error("txt2img on an inpainting model: no masked-image latents")
	}
	// Full resolution: the 14×14 square plus 1 pixel of padding is repainted
	// at 16×16; outside that box the image is the original's, bit for bit.
	fr := base
	fr.Width, fr.Height = 16, 16
	fr.Mask, fr.FullRes, fr.FullResPadding = rect, true, 1
	for k, m := range w32 {
		img, st := gen(m, fr)
		if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
			t.Fatalf("full-res output %v", b)
		}
		if s := st.Tensor("mask"); s == nil || s.Shape[2] != 16 {
			t.Fatalf("full-res mask stage %v", s)
		}
		box := image.Rect(8, 6, 24, 22)
		changed := 0
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				if img.NRGBAAt(x, y) != init.NRGBAAt(x, y) {
					if !(image.Point{x, y}).In(box) {
						t.Fatalf("model %d: pixel %d,%d outside the box changed", k, x, y)
					}
					changed++
				}
			}
		}
		if changed == 0 {
			t.Errorf("model %d: full-res changed nothing", k)
		}
	}
	// The latent fills change the start of the masked part only, at strength < 1.
	lat := base
	lat.Mask, lat.Strength, lat.Sampler = rect, 0.5, "ddim"
	_, orig := gen(w32[1], lat)
	lat.Fill = FillLatentNothing
	_, nothing := gen(w32[1], lat)
	a, b, ml := orig.Tensor("image_latents"), nothing.Tensor("image_latents"), orig.Tensor("mask_latent")
	for i := range a.Data {
		masked := ml.Data[i%len(ml.Data)] == 1
		if masked && b.Data[i] != 0 || !masked && a.Data[i] != b.Data[i] {
			t.Fatalf("latent-nothing: element %d: %g vs %g (masked %v)", i, a.Data[i], b.Data[i], masked)
		}
	}
	lat.Fill = FillBlur
	if _, st := gen(w32[1], lat); st.Tensor("image_latents") == nil {
		t.Error("fill: no image latents")
	}
	// Every sampler runs both kinds of inpainting (the 9-channel one from
	// pure noise, the blend from the noised image).
	for _, name := range scheduler.Names() {
		for k, strength := range []float64{1, 0.7} {
			o := base
			o.Mask, o.Sampler, o.Strength, o.Steps, o.CFGScale = rect, name, strength, 3, 1
			_, st := gen(w32[k], o)
			for _, v := range lastLatents(st).Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s, model %d: latents not finite", name, k)
				}
			}
		}
	}
	// Parameters name the settings as AUTOMATIC1111 does.
	p := base
	p.Mask, p.MaskBlur, p.InvertMask, p.FullRes, p.FullResPadding, p.Fill = rect, 2, true, true, 32, FillBlur
	p.Width, p.Height = 16, 16
	res, err := w32[0].Generate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if want := ", Mask blur: 2, Mask mode: Inpaint not masked, Masked content: fill, Inpaint area: Only masked, Masked area padding: 32"; !strings.Contains(res[0].Parameters, want) {
		t.Errorf("parameters %q lack %q", res[0].Parameters, want)
	}
}

// An inpainting single file given with a 4-channel model's config folder is
// still an inpainting model: conv_in's shape decides.
func TestInpaintConvInDetection(t *testing.T) {
	dir := testdata.Dir(t, "inpaint")
	m, err := Load(filepath.Join(dir, "sd_tiny_inpaint.fp16.safetensors"), LoadOptions{Config: filepath.Join(testdata.Dir(t, "pipeline"), "diffusers")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.IsInpainting() {
		t.Fatalf("in_channels %d, want 9", m.UNet.Config.InChannels)
	}
	if loadTiny(t, "sd_tiny.safetensors").IsInpainting() {
		t.Fatal("a 4-channel model is an inpainting model")
	}
	// A diffusers folder whose unet/config.json says in_channels 4 (a
	// converted or hand-edited one) with 9-channel weights: the weights win.
	orig := filepath.Join(dir, "diffusers")
	folder := t.TempDir()
	for _, c := range []string{"model_index.json", "scheduler", "text_encoder", "tokenizer", "vae"} {
		if err := os.Symlink(filepath.Join(orig, c), filepath.Join(folder, c)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(orig, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var uj map[string]any
	if err := json.Unmarshal(cfg, &uj); err != nil || uj["in_channels"] != 9.0 {
		t.Fatalf("unet config: in_channels %v, %v", uj["in_channels"], err)
	}
	uj["in_channels"] = 4
	cfg, _ = json.Marshal(uj)
	if err := os.Mkdir(filepath.Join(folder, "unet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "unet", "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	const w = "diffusion_pytorch_model.fp16.safetensors"
	if err := os.Symlink(filepath.Join(orig, "unet", w), filepath.Join(folder, "unet", w)); err != nil {
		t.Fatal(err)
	}
	fm, err := Load(folder, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fm.Close()
	if !fm.IsInpainting() {
		t.Fatalf("folder with a 4-channel config: in_channels %d, want 9 from conv_in", fm.UNet.Config.InChannels)
	}
	// Without --config (a real sd-v1-5-inpainting.safetensors): the sizes
	// inferred from the shapes give in_channels 9, and the heads' lookup
	// ignores it: the tiny model stops there only for its unknown widths,
	// as its 4-channel twin does, and SD 1.5's shapes with 9 channels pass.
	src, err := weights.Open(filepath.Join(dir, "sd_tiny_inpaint.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, uc, _, err := singleFileConfigs(weights.TextFromLDM(src), weights.UNetFromLDM(src), weights.VAEFromLDM(src), "")
	if uc.InChannels != 9 || uc.OutChannels != 4 {
		t.Fatalf("inferred in/out channels %d/%d, want 9/4", uc.InChannels, uc.OutChannels)
	}
	if err == nil || !strings.Contains(err.Error(), "attention heads") {
		t.Fatalf("tiny inpainting single file without a config: %v, want the heads' error", err)
	}
	sd := unet.SD15()
	uc.BlockOutChannels, uc.CrossAttentionDim, uc.LayersPerBlock = sd.BlockOutChannels, sd.CrossAttentionDim, sd.LayersPerBlock
	uc.UseLinearProjection = sd.UseLinearProjection
	tc := clip.SD1()
	if err := resolveHeads(&tc, &uc); err != nil || uc.InChannels != 9 {
		t.Fatalf("SD 1.5-shaped 9-channel U-Net: %v, in_channels %d", err, uc.InChannels)
	}
}

func TestFillMasked(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 16, 8))
	mask := make([]float32, 16*8)
	for p := range mask {
		img.Pix[4*p], img.Pix[4*p+3] = 200, 255 // red
		if p%16 >= 8 {
			img.Pix[4*p+2] = 255 // the masked right half is blue: removed
			mask[p] = 1
		}
	}
	out := fillMasked(img, mask)
	for p := range mask {
		if c := out.Pix[4*p : 4*p+3]; c[0] != 200 || c[1] != 0 || c[2] != 0 {
			t.Fatalf("pixel %d: %v, want the surrounding red", p, c)
		}
	}
}

// Outpainting's padding and mask on their own: edge-replicated (numpy's
// pad(mode="edge")) as the reference's outpaint_right.png, or a colour.
func TestOutpaint(t *testing.T) {
	td := testdata.Dir(t, "inpaint")
	init := toNRGBA(readTestImage(t, filepath.Join(td, "init.png")))
	img, mask := Outpaint(init, Padding{Right: 16}, nil)
	want := toNRGBA(readTestImage(t, filepath.Join(td, "outpaint_right.png")))
	for i := range img.Pix {
		if img.Pix[i] != want.Pix[i] {
			t.Fatalf("edge padding: pixel %d,%d differs from outpaint_right.png", i/4%48, i/4/48)
		}
	}
	wantMask, err := vae.ReadImage(filepath.Join(td, "outpaint_right_mask.png"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range mask.Pix {
		if w := wantMask.(*image.Gray).Pix[i]; v != w {
			t.Fatalf("mask pixel %d,%d = %d, want %d", i%48, i/48, v, w)
		}
	}
	// All four sides with a colour: corners and borders filled, the
	// original in place.
	img, mask = Outpaint(init, Padding{Left: 2, Top: 3, Right: 4, Bottom: 5}, color.NRGBA{1, 2, 3, 255})
	if b := img.Bounds(); b.Dx() != 38 || b.Dy() != 40 {
		t.Fatalf("padded %v", b)
	}
	if img.NRGBAAt(0, 0) != (color.NRGBA{1, 2, 3, 255}) || img.NRGBAAt(37, 39) != (color.NRGBA{1, 2, 3, 255}) || img.NRGBAAt(2, 3) != init.NRGBAAt(0, 0) {
		t.Error("colour padding misplaced")
	}
	if mask.GrayAt(1, 10).Y != 255 || mask.GrayAt(2, 3).Y != 0 || mask.GrayAt(33, 34).Y != 0 || mask.GrayAt(34, 34).Y != 255 {
		t.Error("outpaint mask misplaced")
	}
}
