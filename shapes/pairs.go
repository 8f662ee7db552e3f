package shapes

import (
	"fmt"
	"hash/fnv"
	"image"
	"math"
	"math/rand/v2"
	"strings"
)

// Prompt is an evaluation prompt: the spec an image must satisfy and the
// caption that asks for it. For two objects the caption words the pair with
// a relation ("a red circle above a blue square") or with positions ("a red
// circle on the left and a blue square on the right"), the wordings
// Scene.Caption uses in training; for one object it is Spec.String.
type Prompt struct {
	Spec    Spec
	Caption string
}

// AllPairs returns every full two-object spec of split, in a fixed order:
// two different colours, any two kinds, each size, side by side or one
// above the other, every background differing from both shapes. The first
// object is the one on the left or at the top, as in Scene.Spec.
//
// A held-out (Eval) pair is one whose full combination training never
// shows, in the sense of Spec.Split: its exact kinds, colours, sizes,
// arrangement and background. The same two coloured kinds in that
// arrangement do appear in training at other sizes or on other
// backgrounds (docs/sd-mini.md says how often); holding out the pair
// itself (HoldOutPair) changes the training data and needs a retrain.
func AllPairs(split Split) []Spec {
	var out []Spec
	for _, vertical := range [...]bool{false, true} {
		pa, pb := Left, Right
		if vertical {
			pa, pb = Top, Bottom
		}
		for _, ka := range Kinds {
			for _, ca := range Colours {
				for _, kb := range Kinds {
					for _, cb := range Colours {
						if ca == cb {
							continue
						}
						for _, sa := range [...]Size{Small, Large} {
							for _, sb := range [...]Size{Small, Large} {
								for _, bg := range Colours {
									if bg == ca || bg == cb {
										continue
									}
									s := Spec{Objects: []Object{{ka, ca, sa, pa}, {kb, cb, sb, pb}}, Background: bg}
									if s.Split() == split {
										out = append(out, s)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

// HoldOutPair reports whether the pair of coloured kinds in a two-object
// spec, in its arrangement (side by side or one above the other), belongs
// to the held-out pairs of a recipe that holds pairs out whole (see
// sdmini's Options.HoldOutPairs): the 64-bit FNV-1a hash of
// "<colour> <kind> | <colour> <kind> | <h or v>" below evalPercent modulo
// 100. It ignores sizes, positions' jitter and the background, so no
// training scene shows such a pair at all.
func HoldOutPair(s Spec) bool {
	if len(s.Objects) != 2 {
		return false
	}
	a, b := s.Objects[0], s.Objects[1]
	arr := "h"
	if a.Pos == Top || a.Pos == Bottom {
		arr = "v"
	}
	return hashPercent(fmt.Sprintf("%s %s | %s %s | %s", a.Colour, a.Kind, b.Colour, b.Kind, arr)) < evalPercent
}

// HeldOutPairs returns n held-out two-object prompts (AllPairs(Eval)) in an
// order shuffled by seed, each worded in one of the training grammar's
// three pair forms, drawn in turn: "A above B" or "A to the left of B",
// "B below A" or "B to the right of A", and "A on the left and B on the
// right" (or at the top and at the bottom). Sizes and the background are
// stated, as in HeldOut. With n over len(AllPairs(Eval)) the list repeats.
func HeldOutPairs(n int, seed uint64) []Prompt { return heldOutPairs(AllPairs(Eval), n, seed) }

// HeldOutWholePairs is HeldOutPairs drawn only from the pairs held out
// whole (HoldOutPair): the evaluation of a model trained with
// Recipe.HoldOutPairs, whose training showed none of these pairs of
// coloured kinds in that arrangement at any size or on any background.
func HeldOutWholePairs(n int, seed uint64) []Prompt {
	var whole []Spec
	for _, s := range AllPairs(Eval) {
		if HoldOutPair(s) {
			whole = append(whole, s)
		}
	}
	return heldOutPairs(whole, n, seed)
}

func heldOutPairs(all []Spec, n int, seed uint64) []Prompt {
	r := rand.New(rand.NewPCG(seed, 2))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	out := make([]Prompt, n)
	for i := range out {
		s := all[i%len(all)]
		s = Spec{Objects: append([]Object(nil), s.Objects...), Background: s.Background}
		out[i] = Prompt{Spec: s, Caption: PairCaption(s, i%3)}
	}
	return out
}

// PairCaption words a full two-object spec (first object on the left or at
// the top) in form 0 ("A above B", "A to the left of B"), 1 ("B below A",
// "B to the right of A") or 2 ("A at the top and B at the bottom"), with
// the background named at the end.
func PairCaption(s Spec, form int) string {
	a, b := s.Objects[0], s.Objects[1]
	up, down := "above", "below"
	if a.Pos == Left {
		up, down = "to the left of", "to the right of"
	}
	word := func(o Object, pos bool) string {
		p := ""
		if pos {
			p = o.Pos.Phrase()
		}
		return o.phrase(o.Size.String(), p)
	}
	var body string
	switch form {
	case 0:
		body = word(a, false) + " " + up + " " + word(b, false)
	case 1:
		body = word(b, false) + " " + down + " " + word(a, false)
	default:
		body = word(a, true) + " and " + word(b, true)
	}
	if s.Background != NoColour {
		body += " on " + article(s.Background.String()) + " background"
	}
	return body
}

// SceneOf draws a scene that satisfies a full spec (every attribute
// stated): each shape's extent uniform within its size class and its centre
// jittered around its position's anchor, as Sample draws them.
func SceneOf(r *rand.Rand, s Spec) Scene {
	sc := Scene{Background: s.Background}
	for _, o := range s.Objects {
		sh := Shape{Kind: o.Kind, Colour: o.Colour, Size: o.Size, Pos: o.Pos}
		lo, hi := smallMin, smallMax
		if o.Size == Large {
			lo, hi = largeMin, largeMax
		}
		sh.R = lerp(lo, hi, r.Float64())
		ax, ay := o.Pos.anchor()
		sh.X = lerp(ax-posJitter, ax+posJitter, r.Float64())
		sh.Y = lerp(ay-posJitter, ay+posJitter, r.Float64())
		sc.Shapes = append(sc.Shapes, sh)
	}
	return sc
}

// PairResult says which attributes of a two-object spec an image shows,
// object by object. The two largest shapes found are matched to the spec's
// objects in whichever order agrees on more of their kinds, colours and
// positions (the identity order on a tie).
type PairResult struct {
	Count      bool    // exactly two shapes found
	Kind       [2]bool // object i's kind, colour, size and position (absolute: left, top, …)
	Colour     [2]bool
	Size       [2]bool
	Position   [2]bool
	Relation   bool // the matched shapes stand as stated: the first left of (or above) the second, along the dominant axis
	Background bool
}

// Pair reports whether the pair as a whole is right: both objects' kind and
// colour and their relation (what a caption such as "a red circle above a
// blue square" asks).
func (r PairResult) Pair() bool {
	return r.Kind[0] && r.Kind[1] && r.Colour[0] && r.Colour[1] && r.Relation
}

// All reports whether everything holds: the pair, the count, both sizes
// and positions, and the background.
func (r PairResult) All() bool {
	return r.Pair() && r.Count && r.Size[0] && r.Size[1] && r.Position[0] && r.Position[1] && r.Background
}

// ScorePair checks an image against a two-object spec (first object on
// the left or at the top): Read, then Reading.ScorePair.
func ScorePair(img image.Image, spec Spec) PairResult {
	return Read(img).ScorePair(spec)
}

// ScorePair checks the reading against a two-object spec whose first
// object is on the left or at the top (as Scene.Spec and AllPairs order
// them). With fewer than two shapes found, only the count and the
// background are judged (and fail or hold as they are).
func (rd Reading) ScorePair(spec Spec) PairResult {
	var r PairResult
	r.Count = len(rd.Found) == 2
	if bg, ok := spec.ExpectedBackground(); ok {
		r.Background = rd.Background == bg
	}
	if len(spec.Objects) != 2 || len(rd.Found) < 2 {
		return r
	}
	best := -1
	for _, perm := range [2][2]int{{0, 1}, {1, 0}} {
		var c PairResult
		n := 0
		for k, o := range spec.Objects {
			f := rd.Found[perm[k]]
			c.Kind[k] = f.Kind == o.Kind
			c.Colour[k] = f.Colour == o.Colour
			c.Size[k] = o.Size == AnySize || f.Size == o.Size
			c.Position[k] = o.Pos == AnyPos || f.Pos == o.Pos
			for _, ok := range [...]bool{c.Kind[k], c.Colour[k], c.Position[k]} {
				if ok {
					n++
				}
			}
		}
		a, b := rd.Found[perm[0]], rd.Found[perm[1]]
		dx, dy := b.X-a.X, b.Y-a.Y // from the first to the second
		if p := spec.Objects[0].Pos; p == Top || p == Bottom {
			c.Relation = (dy > 0) == (p == Top) && math.Abs(dy) > math.Abs(dx)
		} else {
			c.Relation = (dx > 0) == (p == Left) && math.Abs(dx) > math.Abs(dy)
		}
		if c.Relation {
			n++
		}
		if n > best {
			best = n
			c.Count, c.Background = r.Count, r.Background
			r = c
		}
	}
	return r
}

// PairTable summarises two-object results: for each object attribute the
// share of objects right (2 per image) and the share of images with both
// right; then the count, the relation, the background, the pair as a whole
// (PairResult.Pair) and everything at once.
func PairTable(results []PairResult) string {
	n := len(results)
	pct := func(k, of int) string {
		if of == 0 {
			return "     -"
		}
		return fmt.Sprintf("%5.1f%%", 100*float64(k)/float64(of))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s  %7s  %7s  %s\n", "attribute", "objects", "both", "of")
	for _, row := range []struct {
		name string
		get  func(PairResult) [2]bool
	}{
		{"kind", func(r PairResult) [2]bool { return r.Kind }},
		{"colour", func(r PairResult) [2]bool { return r.Colour }},
		{"size", func(r PairResult) [2]bool { return r.Size }},
		{"position", func(r PairResult) [2]bool { return r.Position }},
	} {
		objs, both := 0, 0
		for _, r := range results {
			v := row.get(r)
			for _, ok := range v {
				if ok {
					objs++
				}
			}
			if v[0] && v[1] {
				both++
			}
		}
		fmt.Fprintf(&b, "%-10s  %7s  %7s  %d/%d\n", row.name, pct(objs, 2*n), pct(both, n), both, n)
	}
	for _, row := range []struct {
		name string
		ok   func(PairResult) bool
	}{
		{"count", func(r PairResult) bool { return r.Count }},
		{"relation", func(r PairResult) bool { return r.Relation }},
		{"background", func(r PairResult) bool { return r.Background }},
		{"pair", PairResult.Pair},
		{"all", PairResult.All},
	} {
		k := 0
		for _, r := range results {
			if row.ok(r) {
				k++
			}
		}
		fmt.Fprintf(&b, "%-10s  %7s  %7s  %d/%d\n", row.name, "", pct(k, n), k, n)
	}
	return b.String()
}

// hashPercent is the 64-bit FNV-1a hash of s modulo 100, as Spec.Split
// draws its splits.
func hashPercent(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64() % 100
}
