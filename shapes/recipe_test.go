package shapes

import (
	"strings"
	"testing"
)

// The zero recipe draws exactly what Sample and Caption draw.
func TestRecipeZeroIsDefault(t *testing.T) {
	a, b := newRand(5), newRand(5)
	for range 300 {
		s1, s2 := Sample(a, Train), SampleRecipe(b, Train, Recipe{})
		if c1, c2 := s1.Caption(a), s2.CaptionRecipe(b, Recipe{}); c1 != c2 {
			t.Fatalf("zero recipe drew %q, the default %q", c2, c1)
		}
	}
}

func TestRecipeKnobs(t *testing.T) {
	rc := Recipe{PairShare: 0.8, DistinctPairs: true, HoldOutPairs: true, RelationShare: 1}
	r := newRand(6)
	pairs, relations := 0, 0
	const n = 2000
	for range n {
		s := SampleRecipe(r, Train, rc)
		if s.Spec().Split() != Train {
			t.Fatalf("%v: a held-out scene", s.Spec())
		}
		if len(s.Shapes) != 2 {
			continue
		}
		pairs++
		if s.Shapes[0].Colour == s.Shapes[1].Colour {
			t.Fatalf("a twin pair with DistinctPairs: %v", s.Spec())
		}
		if HoldOutPair(s.Spec()) {
			t.Fatalf("a held-out pair in training: %v", s.Spec())
		}
		c := s.CaptionRecipe(r, rc)
		spec, err := ParseCaption(c)
		if err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		if !satisfies(s, spec) {
			t.Errorf("%q is not true of %v", c, s.Spec())
		}
		for _, rel := range []string{" above ", " below ", " left of ", " right of "} {
			if strings.Contains(c, rel) {
				relations++
				break
			}
		}
	}
	// Pairs are redrawn more often (held-out shapes), so their share is a little under PairShare.
	if pairs < n*6/10 || relations != pairs {
		t.Errorf("%d pairs of %d scenes (want about 80%%), %d worded by a relation (want all)", pairs, n, relations)
	}
}

func TestSwapColours(t *testing.T) {
	s := Scene{Shapes: []Shape{{Kind: Circle, Colour: Red, Pos: Top}, {Kind: Square, Colour: Blue, Pos: Bottom}}, Background: Red}
	for in, want := range map[string]string{
		"a red circle above a blue square on a red background":       "a blue circle above a red square on a red background",
		"a red background with a small red circle and a blue square": "a red background with a small blue circle and a red square",
		"two red circles": "two blue circles",
	} {
		got, ok := s.SwapColours(in)
		if !ok || got != want {
			t.Errorf("SwapColours(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := (Scene{Shapes: s.Shapes[:1]}).SwapColours("a red circle"); ok {
		t.Errorf("a one-shape caption has a swap")
	}
}
