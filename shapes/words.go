package shapes

import (
	"slices"
	"strings"
	"unicode"
)

// frameWords are the words of ParseCaption's grammar other than colours,
// kinds, sizes and positions: leads, frames, relations, articles.
var frameWords = []string{
	"a", "an", "one", "two", "and", "the", "there", "is", "are", "of",
	"picture", "image", "drawing", "illustration", "with",
	"on", "at", "in", "side", "above", "below", "to", "left", "right",
	"against", "background",
	"small", "little", "tiny", "large", "big", "centre", "middle",
}

// Words returns every word a caption may use (ParseCaption's grammar), in
// order: what sd-mini, trained on these captions only, knows.
func Words() []string {
	var ws []string
	ws = append(ws, frameWords...)
	for _, c := range Colours {
		ws = append(ws, c.String())
	}
	for _, k := range Kinds {
		ws = append(ws, k.String(), k.Plural())
	}
	for _, p := range Positions {
		ws = append(ws, p.String())
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// UnknownWords returns the words of text, lower-cased, that no caption uses,
// each once, in the order they come; words are letter runs, as ParseCaption
// reads them.
func UnknownWords(text string) []string {
	known := Words()
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if _, ok := slices.BinarySearch(known, w); !ok && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}
