package sdmini

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/shapes"
)

// The binding recipe's knobs train end to end: bpe, then the clip stage
// with hard negatives and the unet stage's pool and captions under the
// recipe (a few steps each, on a batch of pairs).
func TestBindingRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	var log bytes.Buffer
	o := Options{Dir: t.TempDir(), Steps: 2, Batch: 4, Scenes: 16, Seed: 7, LogEvery: 1, Log: &log,
		Recipe:        shapes.Recipe{PairShare: 0.9, DistinctPairs: true, HoldOutPairs: true, RelationShare: 0.5},
		HardNegatives: true}
	for _, s := range Stages() {
		if err := s.Run(o); err != nil {
			t.Fatalf("%s: %v\n%s", s.Name, err, log.String())
		}
	}
	for _, want := range []string{"clip step 2/2 loss", "clip: binding: each held-out pair image", "unet step 2/2 loss"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestHardNegatives(t *testing.T) {
	pair := shapes.Scene{Shapes: []shapes.Shape{{Kind: shapes.Circle, Colour: shapes.Red, Pos: shapes.Left}, {Kind: shapes.Square, Colour: shapes.Blue, Pos: shapes.Right}}}
	one := shapes.Scene{Shapes: pair.Shapes[:1]}
	got := hardNegatives([]shapes.Scene{one, pair}, []string{"a red circle", "a red circle to the left of a blue square"})
	if len(got) != 1 || got[0] != "a blue circle to the left of a red square" {
		t.Errorf("hard negatives %q", got)
	}
}
