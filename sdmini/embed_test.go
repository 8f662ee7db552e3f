package sdmini

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/shapes"
)

// The built-in model extracts once, loads as a diffusers folder and draws
// what a caption says.
func TestEmbeddedModel(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // where os.UserCacheDir points on Linux
	dir, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Path(); err != nil || again != dir {
		t.Fatalf("second Path = %q, %v; want %q", again, err, dir)
	}
	total := int64(0)
	for _, f := range []string{"model_index.json", "tokenizer/vocab.json", "text_encoder/model.safetensors",
		"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total > 16<<20 {
		t.Errorf("built-in model is %d bytes, over the 16 MB budget", total)
	}
	m, err := pipeline.Load(dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const caption = "a large blue square at the top on a yellow background"
	res, err := m.Generate(context.Background(), pipeline.Options{Prompt: caption, CFGScale: 3, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if b := res[0].Image.Bounds(); b.Dx() != ImageSize || b.Dy() != ImageSize {
		t.Fatalf("image %v, want %d×%d", b, ImageSize, ImageSize)
	}
	spec, err := shapes.ParseCaption(caption)
	if err != nil {
		t.Fatal(err)
	}
	if r := shapes.Score(res[0].Image, spec); !r.Colour || !r.Position || !r.Size {
		t.Errorf("%q, seed 42: scored %+v", caption, r)
	}
}
