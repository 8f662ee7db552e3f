package clip_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/tokenizer"
)

// TestPrompts runs the tokenizer and the encoder on the reference prompts,
// text to context, and compares both the ids and the context.
func TestPrompts(t *testing.T) {
	tok, err := tokenizer.Load(testdata.Dir(t, "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testdata.Path(t, "clip/info.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Models map[string]struct {
			Prompts []string `json:"prompts"`
		} `json:"models"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		config string
		pad    tokenizer.Pad
	}{
		{"sd1", tokenizer.PadSD1},
		{"sd2", tokenizer.PadSD2},
	} {
		t.Run(tc.config, func(t *testing.T) {
			dir := testdata.Dir(t, "clip/"+tc.config)
			ref := openReference(t, dir)
			prompts := info.Models[tc.config].Prompts
			if len(prompts) != len(ref.ids) {
				t.Fatalf("%d prompts, %d rows of reference ids", len(prompts), len(ref.ids))
			}
			var ids [][]int
			for i, p := range prompts {
				row := tok.EncodePadded(p, tokenizer.ContextLength, tc.pad)
				for j := range row {
					if row[j] != ref.ids[i][j] {
						t.Fatalf("prompt %d: token %d is %d, want %d", i, j, row[j], ref.ids[i][j])
					}
				}
				ids = append(ids, row)
			}
			m, err := clip.LoadFile(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, err := m.Encode(ids, clip.EncodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			abs, rel := compare(t, "last_hidden_state", ctx, ref.tensor(t, "w32.last_hidden_state"))
			t.Logf("max abs error %.3g, relative to max %.3g", abs, rel)
		})
	}
}
