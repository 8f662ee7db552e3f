package pipeline

import (
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/weights"
)

// --vae accepts a separate autoencoder in diffusers names and in original
// names, with the first_stage_model. prefix as a single file has it.
func TestLoadVAEFile(t *testing.T) {
	for _, p := range []string{"vae/diffusion_pytorch_model.safetensors", "vae/vae_ldm.fp16.safetensors"} {
		m, _, closeFn, err := loadVAEFile(testdata.Path(t, p), weights.KeepStored)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		t.Cleanup(func() { closeFn() })
		if len(m.Config.BlockOut) != 2 || m.Config.LatentChannels != 4 {
			t.Fatalf("%s: config %+v", p, m.Config)
		}
	}
	if _, _, _, err := loadVAEFile(testdata.Path(t, "clip/sd1/model.safetensors"), weights.KeepStored); err == nil {
		t.Fatal("a text encoder loaded as a VAE")
	}
}
