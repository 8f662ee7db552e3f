package vae

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// tol is the README's suggested bound against the fp32 reference.
const tol = 1e-4

// compare checks every element of got against want and logs the max abs
// error and the max error relative to max |want|.
func compare(t *testing.T, name string, got, want *nn.Tensor, bound float64) {
	t.Helper()
	if !nn.SameShape(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		return
	}
	var maxAbs, maxRef float64
	for i, w := range want.Data {
		maxAbs = max(maxAbs, math.Abs(float64(got.Data[i])-float64(w)))
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	t.Logf("%-26s max abs %.3g  max abs/max|ref| %.3g  (max|ref| %.3g)", name, maxAbs, maxAbs/maxRef, maxRef)
	if !(maxAbs <= bound) {
		t.Errorf("%s: max abs error %.3g > %.3g", name, maxAbs, bound)
	}
}

// openRef opens a safetensors file of the reference data.
func openRef(t testing.TB, rel string) *weights.File {
	t.Helper()
	f, err := weights.Open(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func refTensor(t testing.TB, f *weights.File, name string) *nn.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// loadRef loads the reference VAE from a file of the vae folder (or, for a
// path with a slash, of the reference data) with the vae folder's config.json.
func loadRef(t testing.TB, file string) *Model {
	t.Helper()
	return loadRefPrecision(t, file, weights.KeepFloat32)
}

// loadRefPrecision is loadRef keeping the weight matrices in precision p.
func loadRefPrecision(t testing.TB, file string, p weights.Precision) *Model {
	t.Helper()
	dir := testdata.Dir(t, "vae")
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(file, "/") {
		file = filepath.Join("vae", file)
	}
	m, err := LoadPrecision(openRef(t, file), cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// traceAgainst returns a Trace hook comparing every intermediate the
// reference recorded.
func traceAgainst(t *testing.T, io *weights.File) func(string, *nn.Tensor) {
	return func(name string, x *nn.Tensor) {
		if _, ok := io.Info(name); ok {
			compare(t, name, x, refTensor(t, io, name), tol)
		}
	}
}

func TestDecodeParity(t *testing.T) {
	io := openRef(t, "vae/io.safetensors")
	for _, tc := range []struct {
		file, out string
		p         weights.Precision
	}{
		{"diffusion_pytorch_model.safetensors", "decode_out", weights.KeepFloat32},
		{"vae_ldm.fp16.safetensors", "decode_out_w16", weights.KeepFloat32},
		// The same weights in a full single-file checkpoint (LDM names under
		// first_stage_model.) and in the pipeline's diffusers folder.
		{"pipeline/sd_tiny.safetensors", "decode_out", weights.KeepFloat32},
		{"pipeline/sd_tiny.fp16.safetensors", "decode_out_w16", weights.KeepFloat32},
		{"pipeline/diffusers/vae/diffusion_pytorch_model.fp16.safetensors", "decode_out_w16", weights.KeepFloat32},
		// fp16 weights kept in half precision: the same numbers.
		{"vae_ldm.fp16.safetensors", "decode_out_w16", weights.KeepStored},
		{"pipeline/sd_tiny.fp16.safetensors", "decode_out_w16", weights.KeepStored},
		{"pipeline/diffusers/vae/diffusion_pytorch_model.fp16.safetensors", "decode_out_w16", weights.KeepStored},
		// fp32 weights kept in float32 under KeepStored.
		{"diffusion_pytorch_model.safetensors", "decode_out", weights.KeepStored},
	} {
		t.Run(tc.file+"/"+tc.p.String(), func(t *testing.T) {
			m := loadRefPrecision(t, tc.file, tc.p)
			if half := m.Decoder.ConvIn.Weight.Half != nil; half != (tc.p == weights.KeepStored && strings.Contains(tc.file, "fp16")) {
				t.Errorf("conv_in weight in half precision: %v", half)
			}
			if tc.file == "diffusion_pytorch_model.safetensors" {
				m.Decoder.Trace = traceAgainst(t, io)
			}
			got, err := m.Decode(refTensor(t, io, "decode_in"))
			if err != nil {
				t.Fatal(err)
			}
			compare(t, tc.out, got, refTensor(t, io, tc.out), tol)
		})
	}
}

func TestEncodeParity(t *testing.T) {
	io := openRef(t, "vae/io.safetensors")
	for _, tc := range []struct {
		file, suffix string
		p            weights.Precision
	}{
		{"diffusion_pytorch_model.safetensors", "", weights.KeepFloat32},
		{"vae_ldm.fp16.safetensors", "_w16", weights.KeepFloat32},
		{"vae_ldm.fp16.safetensors", "_w16", weights.KeepStored},
	} {
		t.Run(tc.file+"/"+tc.p.String(), func(t *testing.T) {
			m := loadRefPrecision(t, tc.file, tc.p)
			if tc.suffix == "" {
				m.Encoder.Trace = traceAgainst(t, io)
			}
			d, err := m.Encode(refTensor(t, io, "encode_in"))
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "encode_mean"+tc.suffix, d.Mean, refTensor(t, io, "encode_mean"+tc.suffix), tol)
			compare(t, "encode_logvar"+tc.suffix, d.LogVar, refTensor(t, io, "encode_logvar"+tc.suffix), tol)
			if tc.suffix != "" {
				return
			}
			compare(t, "encode_std", d.Std(), refTensor(t, io, "encode_std"), tol)
			z := d.Sample(fixedNoise(refTensor(t, io, "sample_noise").Data))
			compare(t, "encode_sample", z, refTensor(t, io, "encode_sample"), tol)
			compare(t, "encode_sample_scaled", m.Scale(z), refTensor(t, io, "encode_sample_scaled"), tol)
			img, err := m.Decode(d.Sample(nil))
			if err != nil {
				t.Fatal(err)
			}
			compare(t, "roundtrip_decode_of_mean", img, refTensor(t, io, "roundtrip_decode_of_mean"), tol)
		})
	}
}

// fixedNoise replays recorded noise.
type fixedNoise []float32

func (f fixedNoise) Normal(dst []float32) { copy(dst, f) }

// TestLayouts loads the same fp16 weights in every layout View accepts and
// checks that all give the same model.
func TestLayouts(t *testing.T) {
	ldm := openRef(t, "vae/vae_ldm.fp16.safetensors") // first_stage_model.encoder.down.0.…
	diff := openRef(t, "pipeline/diffusers/vae/diffusion_pytorch_model.fp16.safetensors")
	cfg, err := ReadConfig(testdata.Path(t, "vae/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Load(ldm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadDiffusers(testdata.Dir(t, "pipeline/diffusers"), true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadDiffusers: loads a different model")
	}
	for name, src := range map[string]weights.Source{
		"diffusers":      diff,
		"vae.+diffusers": addPrefix(diff, "vae."),
		"bare LDM":       weights.Prefixed(ldm, "first_stage_model."), // a separate VAE file such as vae-ft-mse
	} {
		got, err := Load(src, cfg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: loads a different model", name)
		}
	}
}

// addPrefix is a view of src with prefix before every name.
func addPrefix(src weights.Source, prefix string) weights.Source {
	return &weights.Renamed{Src: src,
		ToSource: func(n string) string {
			if s, ok := strings.CutPrefix(n, prefix); ok {
				return s
			}
			return ""
		},
		FromSource: func(n string) string { return prefix + n }}
}

// TestPipelineDecode decodes the pipeline reference's final latents as a
// pipeline does, decode(latents / scaling_factor), into its 8-bit image.
func TestPipelineDecode(t *testing.T) {
	run := openRef(t, "pipeline/runs/euler_20.safetensors")
	for _, tc := range []struct{ file, pre string }{
		{"pipeline/sd_tiny.safetensors", "w32."},
		{"pipeline/sd_tiny.fp16.safetensors", "w16."},
	} {
		m := loadRef(t, tc.file)
		x, err := m.DecodeLatents(refTensor(t, run, tc.pre+"final_latents"))
		if err != nil {
			t.Fatal(err)
		}
		compare(t, tc.pre+"image", x, refTensor(t, run, tc.pre+"image"), tol)
		imgs, err := ToImages(x)
		if err != nil {
			t.Fatal(err)
		}
		u8, _, err := run.Int64s(tc.pre + "image_u8") // (H, W, 3)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0
		for i, v := range u8 {
			if d := int64(imgs[0].Pix[4*(i/3)+i%3]) - v; d != 0 {
				diff++
				if d < -1 || d > 1 {
					t.Errorf("%s: byte %d is %d, want %d", tc.pre+"image_u8", i, v+d, v)
				}
			}
		}
		t.Logf("%s: %d of %d bytes differ by one level", tc.pre+"image_u8", diff, len(u8))
	}
}
