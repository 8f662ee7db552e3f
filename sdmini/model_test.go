package sdmini

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/shapes"
)

// The trained model in model/ loads in the pipeline and draws held-out
// captions recognisably (a loose guard: Evaluate on 200 captions gives the
// figures in the package documentation). Evaluate's grid shows its images.
func TestModel(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 16 images")
	}
	grid := filepath.Join(t.TempDir(), "grid.png")
	ev, err := Evaluate("model", EvalOptions{N: 16, Grid: grid})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v per image\n%s", ev.PerImage, ev.Table)
	if len(ev.Specs) != 16 || len(ev.Images) != 16 || len(ev.Results) != 16 {
		t.Fatalf("%d specs, %d images, %d results, want 16 each", len(ev.Specs), len(ev.Images), len(ev.Results))
	}
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

	f, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if !samePixels(got, shapes.Grid(ev.Images, 8)) {
		t.Error("Evaluate's grid is not the grid of its images")
	}
}

// samePixels reports whether a and b have the same bounds and colours.
func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r0, g0, b0, a0 := a.At(x, y).RGBA()
			r1, g1, b1, a1 := b.At(x, y).RGBA()
			if r0 != r1 || g0 != g1 || b0 != b1 || a0 != a1 {
				return false
			}
		}
	}
	return true
}

// What the built-in autoencoder carries of two shapes: EvalVAEPairs and
// Evaluate with Reconstruct encode and decode the same scenes of the same
// held-out pairs, so their tables agree (docs/sd-mini.md has the figures).
func TestEvalVAEPairs(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes and decodes 2×40 scenes")
	}
	table, err := EvalVAEPairs("model", 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the built-in VAE's reconstructions of 40 held-out pairs:\n%s", table)
	ev, err := Evaluate("model", EvalOptions{N: 40, Seed: 3, Objects: 2, Reconstruct: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev.PairTable != table {
		t.Errorf("Evaluate with Reconstruct:\n%s\nEvalVAEPairs:\n%s", ev.PairTable, table)
	}
	if !strings.Contains(table, "pair") || len(ev.PairResults) != 40 {
		t.Errorf("%d results, table:\n%s", len(ev.PairResults), table)
	}
}
