package bind

import (
	"unicode"
)

// Group is a noun and the words that modify it, as they appear in the
// prompt: "red circle" is {Noun: "circle", Modifiers: ["red"]}. Start is
// each word's byte offset in the prompt (the noun's last).
type Group struct {
	Noun      string
	Modifiers []string
	Starts    []int // byte offsets of Modifiers..., Noun
}

// splitWords break the prompt into parts; dropWords are left out of parts.
var (
	splitWords = set("and", "or", "above", "below", "under", "over", "beneath", "behind", "beside", "near", "next",
		"of", "on", "in", "at", "with", "against", "inside", "outside", "by", "to", "from", "holding", "wearing", "while")
	dropWords = set("a", "an", "the", "this", "that", "some", "one", "two", "three", "left", "right", "top", "bottom",
		"center", "centre", "middle", "side", "picture", "image", "photo", "drawing", "painting")
)

func set(ws ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// ParseGroups finds the noun groups of a prompt (see the package doc's
// rule). Parts of one word are kept (a noun alone, which SynGen still keeps
// apart from the others); A1111 emphasis brackets and weights are ignored.
func ParseGroups(prompt string) []Group {
	var groups []Group
	var cur Group
	var words []string
	var starts []int
	flush := func() {
		if len(words) > 0 {
			cur = Group{Noun: words[len(words)-1], Modifiers: append([]string(nil), words[:len(words)-1]...), Starts: append([]int(nil), starts...)}
			groups = append(groups, cur)
		}
		words, starts = words[:0], starts[:0]
	}
	i := 0
	for i < len(prompt) {
		r := rune(prompt[i])
		if !isWordByte(prompt[i]) {
			if r == ',' || r == ';' || r == '|' || r == '.' {
				flush()
			}
			i++
			continue
		}
		j := i
		for j < len(prompt) && (isWordByte(prompt[j]) || decimalPoint(prompt, j)) {
			j++
		}
		w := asciiLower(prompt[i:j])
		switch {
		case splitWords[w]:
			flush()
		case dropWords[w] || isNumber(w):
		default:
			words = append(words, w)
			starts = append(starts, i)
		}
		i = j
	}
	flush()
	return groups
}

func isWordByte(b byte) bool {
	return b >= 0x80 || b == '-' || b == '\'' || unicode.IsLetter(rune(b)) || unicode.IsDigit(rune(b))
}

func isNumber(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) && r != '.' {
			return false
		}
	}
	return true
}

// decimalPoint reports whether s[j] is a '.' between digits ("1.2").
func decimalPoint(s string, j int) bool {
	return s[j] == '.' && j > 0 && j+1 < len(s) && unicode.IsDigit(rune(s[j-1])) && unicode.IsDigit(rune(s[j+1]))
}

// asciiLower lower-cases ASCII letters only, keeping every other byte (so
// that a word's length and offset stay those of the prompt).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
