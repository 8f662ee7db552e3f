package sdmini

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
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

// Evaluate with Reconstruct scores the autoencoder alone, from a folder
// that holds only vae/, on scenes of the held-out captions
// (docs/sd-mini.md has the built-in VAE's figures).
func TestEvaluateReconstruct(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes and decodes 2×20 scenes")
	}
	dir := t.TempDir()
	if err := copyDir(filepath.Join("model", "vae"), filepath.Join(dir, "vae")); err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(dir, EvalOptions{N: 20, Seed: 3, Reconstruct: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the built-in VAE's reconstructions:\n%s\n%s", ev.Table, ev.PairTable)
	if len(ev.Results) != 20 || len(ev.PairResults) != 20 || ev.Table == "" || ev.PairTable == "" {
		t.Fatalf("%d and %d results, want 20 each", len(ev.Results), len(ev.PairResults))
	}
	colour := 0
	for _, r := range ev.Results {
		if r.Colour {
			colour++
		}
	}
	if colour < 16 {
		t.Errorf("colour right in %d of 20 reconstructions of one shape, want at least 16", colour)
	}
}
