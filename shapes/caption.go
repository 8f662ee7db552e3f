package shapes

import (
	"math/rand/v2"
	"strings"
)

// Caption describes the scene in words, drawing the wording from r: which
// optional attributes to state, synonyms, the sentence frame. Whatever it
// leaves out, the caption stays true of the image:
//
//   - the background is always named unless it is DefaultBackground, and
//     then named half the time;
//   - a size or position is either stated correctly or left out;
//   - two shapes of one kind and colour may be "two green triangles", with
//     no positions.
//
// Every caption parses with ParseCaption into a spec the scene satisfies.
func (s Scene) Caption(r *rand.Rand) string {
	spec := s.Spec()
	if def, ok := DefaultBackground(spec.Objects); ok && spec.Background == def && r.IntN(2) == 0 {
		spec.Background = NoColour
	}
	var body string
	if len(spec.Objects) == 2 {
		body = pairText(r, spec.Objects[0], spec.Objects[1])
	} else {
		o := spec.Objects[0]
		if r.IntN(4) == 0 {
			o.Size = AnySize
		}
		if r.IntN(4) == 0 {
			o.Pos = AnyPos
		}
		body = objectText(r, o)
	}
	return frame(r, body, spec.Background)
}

// objectText words one object: "a big red circle in the middle".
func objectText(r *rand.Rand, o Object) string {
	return o.phrase(sizeWord(r, o.Size), posPhrase(r, o.Pos))
}

// pairText words two objects, a being the one on the left or at the top.
func pairText(r *rand.Rand, a, b Object) string {
	if r.IntN(4) == 0 {
		a.Size = AnySize
	}
	if r.IntN(4) == 0 {
		b.Size = AnySize
	}
	if a.Kind == b.Kind && a.Colour == b.Colour && r.IntN(2) == 0 {
		var size string
		if a.Size == b.Size {
			size = sizeWord(r, a.Size)
		}
		return strings.Join(strings.Fields("two "+size+" "+a.Colour.String()+" "+a.Kind.Plural()), " ")
	}
	switch r.IntN(4) {
	case 0: // no positions
		a.Pos, b.Pos = AnyPos, AnyPos
		if r.IntN(2) == 0 {
			a, b = b, a
		}
		return objectText(r, a) + " and " + objectText(r, b)
	case 1: // a relation
		up, down := "above", "below"
		if a.Pos == Left {
			up, down = "to the left of", "to the right of"
		}
		a.Pos, b.Pos = AnyPos, AnyPos
		if r.IntN(2) == 0 {
			return objectText(r, a) + " " + up + " " + objectText(r, b)
		}
		return objectText(r, b) + " " + down + " " + objectText(r, a)
	}
	if r.IntN(2) == 0 {
		a, b = b, a
	}
	return objectText(r, a) + " and " + objectText(r, b)
}

// sizeWord words a size class, "" for AnySize.
func sizeWord(r *rand.Rand, s Size) string {
	if s == Large && r.IntN(3) == 0 {
		return "big"
	}
	return s.String()
}

// posPhrase words a position, "" for AnyPos.
func posPhrase(r *rand.Rand, p Pos) string {
	switch p {
	case Left, Right:
		if r.IntN(3) == 0 {
			return "on the " + p.String() + " side"
		}
	case Center:
		return [...]string{"in the center", "in the middle", "in the centre"}[r.IntN(3)]
	}
	return p.Phrase()
}

// frame puts the body in a sentence, naming the background bg unless it is
// NoColour.
func frame(r *rand.Rand, body string, bg Colour) string {
	lead := [...]string{"", "", "a picture of ", "an image of ", "a drawing of "}[r.IntN(5)]
	if bg == NoColour {
		return lead + body
	}
	c := bg.String()
	switch r.IntN(5) {
	case 0:
		return lead + body + ", " + c + " background"
	case 1:
		return lead + body + " against " + article(c) + " background"
	case 2:
		return article(c) + " background with " + body
	}
	return lead + body + " on " + article(c) + " background"
}
