package shapes

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ParseCaption reads a caption back into the attributes it states. It
// accepts every caption Caption writes and Spec.String's canonical form,
// whose grammar is
//
//	caption  = [lead] objects [backdrop]
//	         | "a" colour "background with" objects
//	lead     = "there is" | "there are" | ("a" | "an") ("picture" | "image" | "drawing" | "illustration") "of"
//	objects  = object ["and" object | relation object]
//	         | "two" [size] colour kinds
//	object   = ("a" | "an" | "one") [size] colour kind [("on" | "at" | "in") "the" position ["side"]]
//	relation = "above" | "below" | ["to" "the"] ("left" | "right") "of"
//	backdrop = ("on" | "against") ("a" | "an") colour "background" | colour "background"
//	size     = "small" | "little" | "tiny" | "large" | "big"
//	position = "left" | "right" | "top" | "bottom" | "center" | "centre" | "middle"
//
// with the colours and kinds of this package, kinds also in the plural.
// Case and punctuation are ignored. Unstated attributes are left zero. It is
// an error for a shape to have the background's colour, or for two shapes to
// be in one position.
func ParseCaption(text string) (Spec, error) {
	p := parser{toks: strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) })}
	s, err := p.caption()
	if err != nil {
		return Spec{}, fmt.Errorf("shapes: caption %q: %w", text, err)
	}
	return s, nil
}

// parser walks a caption's words.
type parser struct {
	toks []string
	i    int
}

// at returns the word k places ahead, or "" past the end.
func (p *parser) at(k int) string {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return ""
}

// accept consumes words if the caption continues with them.
func (p *parser) accept(words ...string) bool {
	for k, w := range words {
		if p.at(k) != w {
			return false
		}
	}
	p.i += len(words)
	return true
}

// unexpected describes the word at the cursor for an error.
func (p *parser) unexpected(want string) error {
	if p.i >= len(p.toks) {
		return fmt.Errorf("expected %s, got the end", want)
	}
	return fmt.Errorf("expected %s, got %q", want, p.toks[p.i])
}

func (p *parser) caption() (Spec, error) {
	var s Spec
	switch {
	case p.accept("there", "is"), p.accept("there", "are"):
	case isArticle(p.at(0)) && isFrameNoun(p.at(1)) && p.at(2) == "of":
		p.i += 3
	case isArticle(p.at(0)) && colourOf(p.at(1)) != NoColour && p.at(2) == "background" && p.at(3) == "with":
		s.Background = colourOf(p.at(1))
		p.i += 4
	}
	objs, err := p.objects()
	if err != nil {
		return Spec{}, err
	}
	s.Objects = objs

	if p.i < len(p.toks) {
		if s.Background != NoColour {
			return Spec{}, p.unexpected("the end")
		}
		if p.accept("on") || p.accept("against") {
			if !isArticle(p.at(0)) {
				return Spec{}, p.unexpected(`"a"`)
			}
			p.i++
		}
		if s.Background = colourOf(p.at(0)); s.Background == NoColour {
			return Spec{}, p.unexpected("a background colour")
		}
		p.i++
		if !p.accept("background") {
			return Spec{}, p.unexpected(`"background"`)
		}
		if p.i < len(p.toks) {
			return Spec{}, p.unexpected("the end")
		}
	}

	for _, o := range s.Objects {
		if o.Colour == s.Background {
			return Spec{}, fmt.Errorf("a %s shape on a %s background would be invisible", o.Colour, s.Background)
		}
	}
	if len(s.Objects) == 2 && s.Objects[0].Pos != AnyPos && s.Objects[0].Pos == s.Objects[1].Pos {
		return Spec{}, fmt.Errorf("two shapes %s", s.Objects[0].Pos.Phrase())
	}
	return s, nil
}

func (p *parser) objects() ([]Object, error) {
	if p.accept("two") {
		var o Object
		o.Size = sizeOf(p.at(0))
		if o.Size != AnySize {
			p.i++
		}
		if o.Colour = colourOf(p.at(0)); o.Colour == NoColour {
			return nil, p.unexpected("a colour")
		}
		p.i++
		if o.Kind = kindOf(strings.TrimSuffix(p.at(0), "s")); o.Kind == NoKind || !strings.HasSuffix(p.at(0), "s") {
			return nil, p.unexpected("circles, squares or triangles")
		}
		p.i++
		return []Object{o, o}, nil
	}

	a, err := p.object()
	if err != nil {
		return nil, err
	}
	if p.accept("and") {
		b, err := p.object()
		if err != nil {
			return nil, err
		}
		return []Object{a, b}, nil
	}
	var rel Pos // where a is relative to b
	switch {
	case p.accept("above"):
		rel = Top
	case p.accept("below"):
		rel = Bottom
	case p.accept("to", "the", "left", "of"), p.accept("left", "of"):
		rel = Left
	case p.accept("to", "the", "right", "of"), p.accept("right", "of"):
		rel = Right
	default:
		return []Object{a}, nil
	}
	b, err := p.object()
	if err != nil {
		return nil, err
	}
	if (a.Pos != AnyPos && a.Pos != rel) || (b.Pos != AnyPos && b.Pos != rel.opposite()) {
		return nil, errors.New("positions contradict the relation")
	}
	a.Pos, b.Pos = rel, rel.opposite()
	return []Object{a, b}, nil
}

func (p *parser) object() (Object, error) {
	var o Object
	if w := p.at(0); !isArticle(w) && w != "one" {
		return o, p.unexpected(`"a", "an", "one" or "two"`)
	}
	p.i++
	if o.Size = sizeOf(p.at(0)); o.Size != AnySize {
		p.i++
	}
	if o.Colour = colourOf(p.at(0)); o.Colour == NoColour {
		return o, p.unexpected("a colour")
	}
	p.i++
	if o.Kind = kindOf(p.at(0)); o.Kind == NoKind {
		return o, p.unexpected("circle, square or triangle")
	}
	p.i++
	if w := p.at(0); (w == "on" || w == "at" || w == "in") && p.at(1) == "the" && posOf(p.at(2)) != AnyPos {
		o.Pos = posOf(p.at(2))
		p.i += 3
		p.accept("side")
	}
	return o, nil
}

func isArticle(w string) bool { return w == "a" || w == "an" }

func isFrameNoun(w string) bool {
	switch w {
	case "picture", "image", "drawing", "illustration":
		return true
	}
	return false
}

func colourOf(w string) Colour {
	for _, c := range Colours {
		if w == c.String() {
			return c
		}
	}
	return NoColour
}

func kindOf(w string) Kind {
	for _, k := range Kinds {
		if w == k.String() {
			return k
		}
	}
	return NoKind
}

func sizeOf(w string) Size {
	switch w {
	case "small", "little", "tiny":
		return Small
	case "large", "big":
		return Large
	}
	return AnySize
}

func posOf(w string) Pos {
	switch w {
	case "centre", "middle":
		return Center
	}
	for _, p := range Positions {
		if w == p.String() {
			return p
		}
	}
	return AnyPos
}
