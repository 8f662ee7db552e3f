package pipeline

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/unet"
)

// A single file whose text encoder is neither 768 nor 1024 wide used to load
// with a guessed head count (issue 16); now Load names what it cannot read
// and asks for --config, and with --config it loads.
func TestUnknownShapesNeedConfig(t *testing.T) {
	dir := testdata.Dir(t, "pipeline")
	_, err := Load(filepath.Join(dir, "sd_tiny.safetensors"), LoadOptions{Tokenizer: filepath.Join(dir, "diffusers", "tokenizer")})
	if err == nil || !strings.Contains(err.Error(), "text encoder's attention heads") || !strings.Contains(err.Error(), "--config DIR") {
		t.Fatalf("Load without --config: %v", err)
	}
	m, err := Load(filepath.Join(dir, "sd_tiny.safetensors"), LoadOptions{Config: filepath.Join(dir, "diffusers")})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func TestResolveHeads(t *testing.T) {
	sd1Text, sd1UNet := clip.SD1(), unet.SD15()
	odd := unet.SD15()
	odd.BlockOutChannels = []int{192, 384, 768, 768}
	for _, tc := range []struct {
		name      string
		text      clip.Config
		un        unet.Config
		textHeads int
		unetHeads []int
		err       string
	}{
		{"SD 1.x", sd1Text, sd1UNet, 12, []int{8, 8, 8, 8}, ""},
		{"SD 2.x", clip.SD2(), unet.SD21(), 16, []int{5, 10, 20, 20}, ""},
		{"SD 1.x text, other U-Net", sd1Text, odd, 0, nil, "U-Net's attention heads"},
		{"narrow text", clip.Config{Width: 512, MLPWidth: 2048, Positions: 77}, sd1UNet, 0, nil, "text encoder's attention heads"},
	} {
		tc.text.Heads, tc.un.Heads = 1, []int{1, 1, 1, 1} // what a guess would say
		err := resolveHeads(&tc.text, &tc.un)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.text.Heads != tc.textHeads || !slices.Equal(tc.un.Heads, tc.unetHeads):
			t.Errorf("%s: heads %d, %v; want %d, %v", tc.name, tc.text.Heads, tc.un.Heads, tc.textHeads, tc.unetHeads)
		}
	}
}

// SDXL's single file (base 1.0 and Turbo) takes its heads from the SDXL
// presets: the U-Net's per level, and the second text encoder's; another
// second encoder asks for --config, naming it.
func TestResolveSDXLHeads(t *testing.T) {
	tc, uc := clip.SD1(), unet.SDXL()
	tc.Heads, uc.Heads = 0, nil // what the shapes cannot tell
	if err := resolveHeads(&tc, &uc); err != nil || tc.Heads != 12 || !slices.Equal(uc.Heads, []int{5, 10, 20}) {
		t.Errorf("SDXL: heads %d, %v, err %v; want 12, [5 10 20]", tc.Heads, uc.Heads, err)
	}
	g := clip.SDXLBigG()
	g.Heads = 0
	if err := resolveText2Heads(&g); err != nil || g.Heads != 20 {
		t.Errorf("bigG: heads %d, err %v; want 20", g.Heads, err)
	}
	g.Width, g.MLPWidth = 1024, 4096
	if err := resolveText2Heads(&g); err == nil || !strings.Contains(err.Error(), "second text encoder") || !strings.Contains(err.Error(), "--config") {
		t.Errorf("unknown second encoder: err %v, want one naming it and asking for --config", err)
	}
}
