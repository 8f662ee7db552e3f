package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/weights"
)

// sd2Fixture assembles an SD 2.x-style model from the tiny reference
// components (OpenCLIP-style text encoder of width 64, the SD2-style U-Net
// with linear projections and cross-attention width 64, the tiny VAE): a
// diffusers folder of links, and a single file in the original layout.
func sd2Fixture(t *testing.T) (folder, single string) {
	td, _ := testdata.Root()
	testdata.Dir(t, "unet/sd2")
	testdata.Dir(t, "clip/sd2")
	dir := t.TempDir()
	folder = filepath.Join(dir, "sd2-tiny")
	link := func(src, dst string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(td, "tokenizer"), filepath.Join(folder, "tokenizer"))
	link(filepath.Join(td, "clip/sd2/config.json"), filepath.Join(folder, "text_encoder/config.json"))
	link(filepath.Join(td, "clip/sd2/model.safetensors"), filepath.Join(folder, "text_encoder/model.safetensors"))
	link(filepath.Join(td, "unet/sd2/config.json"), filepath.Join(folder, "unet/config.json"))
	link(filepath.Join(td, "unet/sd2/diffusion_pytorch_model.safetensors"), filepath.Join(folder, "unet/diffusion_pytorch_model.safetensors"))
	link(filepath.Join(td, "vae/config.json"), filepath.Join(folder, "vae/config.json"))
	link(filepath.Join(td, "vae/diffusion_pytorch_model.safetensors"), filepath.Join(folder, "vae/diffusion_pytorch_model.safetensors"))
	os.WriteFile(filepath.Join(folder, "model_index.json"), []byte(`{"_class_name": "StableDiffusionPipeline"}`), 0o644)
	os.MkdirAll(filepath.Join(folder, "scheduler"), 0o755)
	os.WriteFile(filepath.Join(folder, "scheduler/scheduler_config.json"), []byte(`{"prediction_type": "v_prediction", "steps_offset": 1}`), 0o644)

	// The single file: every tensor of the three original-layout files.
	var entries []weights.Entry
	for _, p := range []string{"unet/sd2/unet_ldm.fp16.safetensors", "vae/vae_ldm.fp16.safetensors", "clip/sd2/sd2_openclip_names.fp16.safetensors"} {
		f, err := weights.Open(filepath.Join(td, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range f.Names() {
			x, err := f.Tensor(n)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, weights.Entry{Name: n, DType: weights.F16, Shape: x.Shape, Float: x.Data})
		}
		f.Close()
	}
	single = filepath.Join(dir, "sd2-tiny.safetensors")
	if err := weights.Write(single, entries, nil, false); err != nil {
		t.Fatal(err)
	}
	return folder, single
}

func TestSD2(t *testing.T) {
	folder, single := sd2Fixture(t)
	outputs, err := weights.Open(testdata.Path(t, "clip/sd2/outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer outputs.Close()
	row0 := func(name string) *nn.Tensor { // prompt 0 is refPrompt
		x, err := outputs.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		d := x.Shape[2]
		return nn.From(x.Data[:77*d], 1, 77, d)
	}
	for _, tc := range []struct {
		name string
		path string
		opts LoadOptions
		want *nn.Tensor
	}{
		// The diffusers folder's text encoder is used whole: last layer.
		{"diffusers", folder, LoadOptions{}, row0("w32.last_hidden_state")},
		// The single file holds OpenCLIP's tower; SD 2.x uses its penultimate layer.
		{"single file", single, LoadOptions{Config: folder}, row0("w16.penultimate_normed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != SD2 || m.Pad != tokenizer.PadSD2 {
				t.Fatalf("version %v, pad %v", m.Version, m.Pad)
			}
			z, ids, err := m.encodePrompt(refPrompt, 1)
			if err != nil {
				t.Fatal(err)
			}
			if ids[76] != 0 {
				t.Fatalf("SD 2.x ids not padded with 0: %v", ids)
			}
			compareRel(t, "context", z, tc.want, 1e-5)
			if _, err := m.Generate(context.Background(), Options{Prompt: refPrompt, Steps: 2, Width: 32, Height: 32}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
