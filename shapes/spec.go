package shapes

import (
	"hash/fnv"
	"math/rand/v2"
	"strings"
)

// Object is what a caption says about one shape. Zero fields are unstated:
// a caption that omits the size has Size == AnySize.
type Object struct {
	Kind   Kind
	Colour Colour
	Size   Size
	Pos    Pos
}

// Spec is what a caption says about a whole image: one or two objects and,
// optionally, the background. Scene.Spec gives the full spec of a scene;
// ParseCaption gives the (possibly partial) spec of a caption.
type Spec struct {
	Objects    []Object
	Background Colour // NoColour: unstated, meaning DefaultBackground
}

// DefaultBackground is the background an image has when its caption does
// not name one: white, or black if a shape is white, and none (ok false) if
// the shapes are white and black, whose captions always name the background.
// It depends only on the shapes' colours, so a caption without a background
// is still a complete description of the background.
func DefaultBackground(objs []Object) (c Colour, ok bool) {
	var white, black bool
	for _, o := range objs {
		white = white || o.Colour == White
		black = black || o.Colour == Black
	}
	switch {
	case !white:
		return White, true
	case !black:
		return Black, true
	}
	return NoColour, false
}

// ExpectedBackground is the background an image of s must have: the stated
// one, else DefaultBackground (ok false if neither decides it).
func (s Spec) ExpectedBackground() (c Colour, ok bool) {
	if s.Background != NoColour {
		return s.Background, true
	}
	return DefaultBackground(s.Objects)
}

// String returns the canonical caption of s, stating exactly what s states:
// "a small red circle on the left on a white background",
// "a red circle on the left and a large blue square on the right".
func (s Spec) String() string {
	var b strings.Builder
	for i, o := range s.Objects {
		if i > 0 {
			b.WriteString(" and ")
		}
		b.WriteString(o.phrase(o.Size.String(), o.Pos.Phrase()))
	}
	if s.Background != NoColour {
		b.WriteString(" on ")
		b.WriteString(article(s.Background.String()))
		b.WriteString(" background")
	}
	return b.String()
}

// phrase writes "a [size] colour kind [position]" with the given size word
// and position phrase (either may be "").
func (o Object) phrase(size, pos string) string {
	words := make([]string, 0, 4)
	if size != "" {
		words = append(words, size)
	}
	words = append(words, o.Colour.String(), o.Kind.String())
	s := article(strings.Join(words, " "))
	if pos != "" {
		s += " " + pos
	}
	return s
}

// article prefixes "a" or "an" to a noun phrase.
func article(phrase string) string {
	if phrase != "" && strings.ContainsRune("aeiou", rune(phrase[0])) {
		return "an " + phrase
	}
	return "a " + phrase
}

// Split says which part of the data a scene belongs to.
type Split uint8

// The splits.
const (
	Train Split = iota
	Eval        // held out: attribute combinations never shown in training
)

// String returns "train" or "eval".
func (s Split) String() string {
	if s == Eval {
		return "eval"
	}
	return "train"
}

// evalPercent is the share of attribute combinations held out.
const evalPercent = 15

// Split returns the split of a full spec: Eval if the 64-bit FNV-1a hash of
// its canonical caption (String, background stated) is below evalPercent
// modulo 100, else Train. A spec of two shapes is also Eval if either shape
// on that background is an Eval single-shape combination, so no training
// image shows a held-out shape-and-background combination, not even beside
// another shape. A combination is thus in exactly one split, on any machine
// and in any Go version; the spec should be fully stated (as from
// Scene.Spec).
func (s Spec) Split() Split {
	if len(s.Objects) > 1 {
		for _, o := range s.Objects {
			if (Spec{Objects: []Object{o}, Background: s.Background}).Split() == Eval {
				return Eval
			}
		}
	}
	h := fnv.New64a()
	h.Write([]byte(s.String()))
	if h.Sum64()%100 < evalPercent {
		return Eval
	}
	return Train
}

// AllSingle returns every full single-shape spec of split, in a fixed order
// (kind, colour, size, position, background): one per attribute
// combination, backgrounds differing from the shape's colour.
func AllSingle(split Split) []Spec {
	var out []Spec
	for _, k := range Kinds {
		for _, c := range Colours {
			for _, sz := range [...]Size{Small, Large} {
				for _, p := range Positions {
					for _, bg := range Colours {
						if bg == c {
							continue
						}
						s := Spec{Objects: []Object{{k, c, sz, p}}, Background: bg}
						if s.Split() == split {
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	return out
}

// HeldOut returns n held-out single-shape specs, every attribute stated, in
// an order shuffled by seed: the evaluation prompts (their String is the
// caption). The combinations are distinct while n is at most
// len(AllSingle(Eval)), which is 240; beyond that the list repeats.
func HeldOut(n int, seed uint64) []Spec {
	all := AllSingle(Eval)
	r := rand.New(rand.NewPCG(seed, 0))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	out := make([]Spec, n)
	for i := range out {
		s := all[i%len(all)]
		out[i] = Spec{Objects: append([]Object(nil), s.Objects...), Background: s.Background}
	}
	return out
}
