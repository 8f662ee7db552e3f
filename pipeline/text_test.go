package pipeline

import (
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/weights"
)

// The prompt's and the empty negative prompt's ids and embeddings match
// diffusers' for the tiny model.
func TestConditioning(t *testing.T) {
	m := loadTiny(t, "sd_tiny.safetensors")
	ref, err := weights.Open(filepath.Join(testdata.Dir(t, "pipeline"), "text.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	st := &Stages{}
	o, err := m.withDefaults(Options{Prompt: refPrompt, CFGScale: 7.5, Width: 32, Height: 32, Stages: st})
	if err != nil {
		t.Fatal(err)
	}
	cond, uncond, err := m.conditioning(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ids, name string }{{"ids_cond", "cond"}, {"ids_uncond", "uncond"}} {
		want, _, err := ref.Int64s(c.ids)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range st.entries {
			if e.Name == c.ids {
				got = e.Int
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d ids, want %d", c.ids, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s[%d] = %d, want %d", c.ids, i, got[i], want[i])
			}
		}
	}
	w, _ := ref.Tensor("w32.cond")
	compareRel(t, "cond", cond, w, 1e-5)
	w, _ = ref.Tensor("w32.uncond")
	compareRel(t, "uncond", uncond, w, 1e-5)
}
