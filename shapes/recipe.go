package shapes

import (
	"math/rand/v2"
	"strings"
)

// Recipe holds the training data's optional knobs for two-object binding.
// The zero Recipe is the original world, the one sd-mini was first trained
// on: SampleRecipe and CaptionRecipe then draw exactly what Sample and
// Scene.Caption draw, bit for bit. (The built-in weights' recipe is
// sdmini.BuiltIn's.)
type Recipe struct {
	// PairShare is the share of scenes with two shapes (0: the original
	// world's, 0.3).
	PairShare float64
	// DistinctPairs gives the two shapes of a pair different colours
	// (their kinds independent), never copying the first ("two green
	// triangles", 40% of the original world's pairs): every pair then has
	// colours to bind.
	DistinctPairs bool
	// HoldOutPairs leaves out of training every scene whose pair of
	// coloured kinds is held out whole (HoldOutPair), so that the
	// two-object evaluation's pairs were never seen at any size or on any
	// background.
	HoldOutPairs bool
	// RelationShare is the share of two-shape captions worded with a
	// relation ("a red circle above a blue square" or "a blue square below
	// a red circle", either order equally); the rest are worded as
	// Scene.Caption words them (0: Caption's own mix, a quarter relations).
	RelationShare float64
}

// IsZero reports whether r is the original world's recipe.
func (r Recipe) IsZero() bool { return r == Recipe{} }

// SampleRecipe is Sample under a recipe: the same draw for the zero
// recipe; otherwise scenes have two shapes with probability PairShare,
// pairs copy nothing with DistinctPairs, and with HoldOutPairs a scene of
// the Train split is also redrawn while its pair is held out whole.
func SampleRecipe(r *rand.Rand, split Split, rc Recipe) Scene {
	if rc.IsZero() {
		return Sample(r, split)
	}
	for {
		s := drawSceneRecipe(r, rc)
		if s.Spec().Split() != split {
			continue
		}
		if rc.HoldOutPairs && split == Train && HoldOutPair(s.Spec()) {
			continue
		}
		return s
	}
}

// drawSceneRecipe is drawScene with the recipe's probabilities.
func drawSceneRecipe(r *rand.Rand, rc Recipe) Scene {
	pair := twoShapeProb
	if rc.PairShare > 0 {
		pair = rc.PairShare
	}
	var s Scene
	if r.Float64() < pair {
		a, b := Left, Right
		if r.IntN(2) == 0 {
			a, b = Top, Bottom
		}
		first := drawShape(r, a)
		second := drawShape(r, b)
		switch {
		case rc.DistinctPairs:
			for second.Colour == first.Colour {
				second.Colour = Colours[r.IntN(len(Colours))]
			}
		case r.Float64() < twinProb:
			second.Kind, second.Colour = first.Kind, first.Colour
		}
		s.Shapes = []Shape{first, second}
	} else {
		s.Shapes = []Shape{drawShape(r, Positions[r.IntN(len(Positions))])}
	}
	def, ok := DefaultBackground(s.Spec().Objects)
	if ok && r.Float64() < defaultBackProb {
		s.Background = def
		return s
	}
	var free []Colour
	for _, c := range Colours {
		if !s.uses(c) {
			free = append(free, c)
		}
	}
	s.Background = free[r.IntN(len(free))]
	return s
}

// CaptionRecipe is Scene.Caption under a recipe: the same draw for a zero
// RelationShare; otherwise a two-shape scene is worded with a relation
// with probability RelationShare (see Recipe).
func (s Scene) CaptionRecipe(r *rand.Rand, rc Recipe) string {
	if rc.RelationShare == 0 || len(s.Shapes) != 2 || r.Float64() >= rc.RelationShare {
		return s.Caption(r)
	}
	spec := s.Spec()
	if def, ok := DefaultBackground(spec.Objects); ok && spec.Background == def && r.IntN(2) == 0 {
		spec.Background = NoColour
	}
	a, b := spec.Objects[0], spec.Objects[1]
	if r.IntN(4) == 0 {
		a.Size = AnySize
	}
	if r.IntN(4) == 0 {
		b.Size = AnySize
	}
	up, down := "above", "below"
	if a.Pos == Left {
		up, down = "to the left of", "to the right of"
	}
	a.Pos, b.Pos = AnyPos, AnyPos
	body := objectText(r, a) + " " + up + " " + objectText(r, b)
	if r.IntN(2) == 0 {
		body = objectText(r, b) + " " + down + " " + objectText(r, a)
	}
	return frame(r, body, spec.Background)
}

// SwapColours returns the caption of a two-shape scene with the two
// shapes' colour words exchanged ("a red circle above a blue square" →
// "a blue circle above a red square"): a hard negative, a caption of the
// same words that binds them wrongly. ok is false when the scene has no
// such caption (one shape, or both of one colour). A colour word counts as
// a shape's when a size word or nothing stands between it and a kind word.
func (s Scene) SwapColours(caption string) (string, bool) {
	if len(s.Shapes) != 2 || s.Shapes[0].Colour == s.Shapes[1].Colour {
		return "", false
	}
	ca, cb := s.Shapes[0].Colour.String(), s.Shapes[1].Colour.String()
	words := strings.Split(caption, " ")
	swapped := false
	for i, w := range words {
		if (w != ca && w != cb) || i+1 >= len(words) {
			continue
		}
		next := strings.TrimRight(words[i+1], ",")
		if kindOf(strings.TrimSuffix(next, "s")) == NoKind {
			continue
		}
		if w == ca {
			words[i] = cb
		} else {
			words[i] = ca
		}
		swapped = true
	}
	return strings.Join(words, " "), swapped
}
