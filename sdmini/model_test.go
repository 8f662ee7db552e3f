package sdmini

import (
	"testing"
)

// The trained model in model/ loads in the pipeline and draws held-out
// captions recognisably (a loose guard: Evaluate on 200 captions gives the
// figures in the package documentation).
func TestModel(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 16 images")
	}
	ev, err := Evaluate("model", EvalOptions{N: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v per image\n%s", ev.PerImage, ev.Table)
	colour, position := 0, 0
	for _, r := range ev.Results {
		if r.Colour {
			colour++
		}
		if r.Position {
			position++
		}
	}
	if colour < 10 || position < 10 {
		t.Errorf("colour right in %d of 16 images, position in %d: want at least 10 each", colour, position)
	}
}
