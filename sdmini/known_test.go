package sdmini

import (
	"testing"

	"github.com/sdgo/sdgo/pipeline"
)

// sd-mini's shapes are known: a single-file sd-mini takes its heads (4 in
// the text encoder, whose heads are 32 wide, not CLIP's 64).
func TestKnownModel(t *testing.T) {
	text, un := TextConfig(316), UNetConfig()
	for _, k := range []pipeline.KnownModel{{Name: "sd-mini", Text: text, UNet: un}} {
		found := false
		for _, r := range pipeline.KnownModels() {
			if r.Name == k.Name && r.Text.Heads == 4 && r.UNet.Heads[0] == 4 {
				found = true
			}
		}
		if !found {
			t.Fatal("sd-mini is not a known model")
		}
	}
}
