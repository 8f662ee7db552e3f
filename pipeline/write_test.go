package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

// TestSingleFileTensors: the tensors listed from a tiny model's configs
// through the loaders are exactly those of the reference's single file
// (made by diffusers' conversion script), names and shapes, for SD 1.x and
// SDXL.
func TestSingleFileTensors(t *testing.T) {
	for _, tc := range []struct {
		data, file string
		list       func(d string) ([]weights.Entry, error)
	}{
		{"pipeline", "sd_tiny.fp16.safetensors", func(d string) ([]weights.Entry, error) {
			return SingleFileTensors(readUNetConfig(t, d), readCLIPConfig(t, d, "text_encoder"), readVAEConfig(t, d))
		}},
		{"sdxl", "sdxl_tiny.fp16.safetensors", func(d string) ([]weights.Entry, error) {
			return SDXLSingleFileTensors(readUNetConfig(t, d), readCLIPConfig(t, d, "text_encoder"), readCLIPConfig(t, d, "text_encoder_2"), readVAEConfig(t, d))
		}},
	} {
		t.Run(tc.data, func(t *testing.T) {
			dir := testdata.Dir(t, tc.data)
			got, err := tc.list(filepath.Join(dir, "diffusers"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := weights.Open(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want := map[string][]int{}
			for _, n := range f.Names() {
				switch {
				case strings.HasSuffix(n, "position_ids"), strings.HasSuffix(n, "logit_scale"):
					continue // buffers the loaders skip
				case n == "betas", strings.HasPrefix(n, "alphas_cumprod"):
					continue // LDM's DDPM schedule, computed from the scheduler config
				}
				in, _ := f.Info(n)
				want[n] = in.Shape
			}
			seen := map[string]bool{}
			for _, e := range got {
				if seen[e.Name] {
					t.Errorf("%s listed twice", e.Name)
				}
				seen[e.Name] = true
				if s, ok := want[e.Name]; !ok {
					t.Errorf("%s %v is not in the single file", e.Name, e.Shape)
				} else if !nn.SameShape(s, e.Shape) {
					t.Errorf("%s: shape %v, the file's %v", e.Name, e.Shape, s)
				}
			}
			for n := range want {
				if !seen[n] {
					t.Errorf("%s is missing from the list", n)
				}
			}
		})
	}
}

func readUNetConfig(t *testing.T, d string) unet.Config {
	t.Helper()
	c, err := unet.ReadConfig(filepath.Join(d, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readCLIPConfig(t *testing.T, d, sub string) clip.Config {
	t.Helper()
	c, err := clip.ReadConfig(filepath.Join(d, sub, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readVAEConfig(t *testing.T, d string) vae.Config {
	t.Helper()
	c, err := vae.ReadConfig(filepath.Join(d, "vae", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSingleFileTensorsSD15: SD 1.5's presets list exactly the parameter
// counts of runwayml/stable-diffusion-v1-5's components (diffusers'
// num_parameters()), so sdgo bench's random checkpoint is SD 1.5-sized.
func TestSingleFileTensorsSD15(t *testing.T) {
	es, err := SingleFileTensors(unet.SD15(), clip.SD1(), vae.SD15())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range es {
		for _, p := range []string{weights.LDMUNetPrefix, weights.LDMVAEPrefix, weights.LDMCLIPPrefix} {
			if strings.HasPrefix(e.Name, p) {
				got[p] += nn.Numel(e.Shape)
			}
		}
	}
	for p, want := range map[string]int{
		weights.LDMUNetPrefix: 859_520_964,
		weights.LDMVAEPrefix:  83_653_863,
		weights.LDMCLIPPrefix: 123_060_480,
	} {
		if got[p] != want {
			t.Errorf("%s*: %d parameters, SD 1.5 has %d", p, got[p], want)
		}
	}
}
