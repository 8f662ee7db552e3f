package shapes

import (
	"image"
	"strings"
	"testing"
)

// Every held-out pair prompt parses back to its spec, is a held-out
// combination, and its caption is one the training grammar produces.
func TestHeldOutPairs(t *testing.T) {
	all := AllPairs(Eval)
	train := AllPairs(Train)
	if len(all) < 200 || len(train) < len(all) {
		t.Fatalf("%d held-out and %d training pairs, want at least 200 held out and most of the world in training", len(all), len(train))
	}
	for _, p := range HeldOutPairs(300, 0) {
		if p.Spec.Split() != Eval {
			t.Errorf("%q: spec %v is not held out", p.Caption, p.Spec)
		}
		got, err := ParseCaption(p.Caption)
		if err != nil {
			t.Fatalf("%q: %v", p.Caption, err)
		}
		// The parser returns the objects in the caption's order.
		if len(got.Objects) != 2 || got.Background != p.Spec.Background {
			t.Fatalf("%q parses as %v", p.Caption, got)
		}
		if got.Objects[0] != p.Spec.Objects[0] && got.Objects[0] != p.Spec.Objects[1] {
			t.Errorf("%q parses as %v, want %v", p.Caption, got, p.Spec)
		}
	}
	// The three wordings come in turn.
	ps := HeldOutPairs(3, 1)
	for i, want := range []string{" above ", " below ", " and "} {
		alt := map[string]string{" above ": " to the left of ", " below ": " to the right of "}[want]
		if c := ps[i].Caption; !strings.Contains(c, want) && (alt == "" || !strings.Contains(c, alt)) {
			t.Errorf("prompt %d %q: want the %q form", i, c, want)
		}
	}
	// The seed reorders; the same seed repeats.
	a, b := HeldOutPairs(10, 0), HeldOutPairs(10, 0)
	if a[3].Caption != b[3].Caption || a[3].Caption == HeldOutPairs(10, 5)[3].Caption {
		t.Errorf("HeldOutPairs is not a function of the seed")
	}
}

// The scorer reads ground-truth held-out two-object scenes right, object by
// object, as it does single shapes (TestScoreTruth).
func TestScorePairTruth(t *testing.T) {
	for _, size := range []int{64, 128} {
		r := newRand(20)
		var results []PairResult
		img := image.NewNRGBA(image.Rect(0, 0, size, size))
		for _, p := range HeldOutPairs(300, 3) {
			SceneOf(r, p.Spec).RenderInto(img)
			res := ScorePair(img, p.Spec)
			if !res.All() {
				t.Logf("%d×%d %q: %+v read as %+v", size, size, p.Caption, res, Read(img).Found)
			}
			results = append(results, res)
		}
		t.Logf("%d×%d:\n%s", size, size, PairTable(results))
		for _, row := range pairAccuracy(results) {
			if row.v < 0.98 {
				t.Errorf("%d×%d: %s right on %.1f%% of ground-truth pairs, want ≥ 98%%", size, size, row.name, 100*row.v)
			}
		}
	}
}

// The scorer is not fooled by a swap: the pair with its colours exchanged,
// its kinds exchanged or its relation reversed fails as a pair.
func TestScorePairSwaps(t *testing.T) {
	r := newRand(21)
	swaps := map[string]func(Spec) Spec{
		"colours": func(s Spec) Spec {
			s.Objects[0].Colour, s.Objects[1].Colour = s.Objects[1].Colour, s.Objects[0].Colour
			return s
		},
		"kinds": func(s Spec) Spec {
			s.Objects[0].Kind, s.Objects[1].Kind = s.Objects[1].Kind, s.Objects[0].Kind
			return s
		},
		"relation": func(s Spec) Spec {
			s.Objects[0].Pos, s.Objects[1].Pos = s.Objects[1].Pos, s.Objects[0].Pos
			return s
		},
	}
	for name, swap := range swaps {
		pass, n := 0, 0
		for _, p := range HeldOutPairs(200, 4) {
			truth := p.Spec
			wrong := swap(Spec{Objects: append([]Object(nil), truth.Objects...), Background: truth.Background})
			if wrong.Objects[0] == truth.Objects[0] && wrong.Objects[1] == truth.Objects[1] {
				continue // a swap of equal kinds changes nothing
			}
			rd := Read(SceneOf(r, truth).Render(64))
			n++
			if rd.ScorePair(wrong).Pair() {
				pass++
			}
		}
		if n < 50 || pass > n/20 {
			t.Errorf("swapped %s: %d of %d pass as a pair, want ≤ 5%%", name, pass, n)
		}
	}
}

type accRow struct {
	name string
	v    float64
}

// pairAccuracy returns each PairTable row's share.
func pairAccuracy(results []PairResult) []accRow {
	rows := []accRow{{"kind", 0}, {"colour", 0}, {"size", 0}, {"position", 0}, {"count", 0}, {"relation", 0}, {"background", 0}, {"pair", 0}}
	for _, r := range results {
		for k, ok := range []bool{r.Kind[0] && r.Kind[1], r.Colour[0] && r.Colour[1], r.Size[0] && r.Size[1], r.Position[0] && r.Position[1], r.Count, r.Relation, r.Background, r.Pair()} {
			if ok {
				rows[k].v++
			}
		}
	}
	for k := range rows {
		rows[k].v /= float64(len(results))
	}
	return rows
}

func TestHeldOutWholePairs(t *testing.T) {
	ps := HeldOutWholePairs(300, 0)
	seen := map[string]bool{}
	for _, p := range ps {
		if !HoldOutPair(p.Spec) || p.Spec.Split() != Eval {
			t.Fatalf("%q is not a pair held out whole", p.Caption)
		}
		seen[p.Caption] = true
	}
	if len(seen) < 290 {
		t.Errorf("only %d distinct prompts of 300", len(seen))
	}
}
