package tokenizer

import "unicode"

// word is one match of CLIP's split pattern: runes [start, end) of the clean
// text, or a special token.
type word struct {
	start, end int
	special    string // StartOfText or EndOfText, else ""
}

// contractions are the pattern's 's 't 're 've 'm 'll 'd, longest first
// within a shared start so that the pattern's order of alternatives holds.
var contractions = [][]rune{
	[]rune("'s"), []rune("'t"), []rune("'re"), []rune("'ve"), []rune("'m"), []rune("'ll"), []rune("'d"),
}

var specials = []string{StartOfText, EndOfText}

var specialRunes = [][]rune{[]rune(StartOfText), []rune(EndOfText)}

// split cuts clean text into words with CLIP's pattern (case-insensitive):
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// Like the regular expression, it tries the alternatives in order at each
// position and skips whitespace between matches. Note that a run of symbols
// does not stop at a special token: "!<|ENDOFTEXT|>", lower-cased, gives
// "!<|", "endoftext", "|>", as in Python. (Exact "<|endoftext|>" never gets
// here: Tokenizer.encode cuts it out first, as transformers does.)
func split(r []rune) []word {
	var words []word
	for i := 0; i < len(r); {
		c := r[i]
		if isSpace(c) {
			i++
			continue
		}
		if c == '<' {
			if s, n := matchSpecial(r[i:]); n > 0 {
				words = append(words, word{i, i + n, s})
				i += n
				continue
			}
		}
		if c == '\'' {
			if n := matchContraction(r[i:]); n > 0 {
				words = append(words, word{start: i, end: i + n})
				i += n
				continue
			}
		}
		j := i + 1
		switch {
		case unicode.IsLetter(c):
			for j < len(r) && unicode.IsLetter(r[j]) {
				j++
			}
		case unicode.IsNumber(c):
			// a single digit
		default:
			for j < len(r) && !isSpace(r[j]) && !unicode.IsLetter(r[j]) && !unicode.IsNumber(r[j]) {
				j++
			}
		}
		words = append(words, word{start: i, end: j})
		i = j
	}
	return words
}

func matchSpecial(r []rune) (string, int) {
	for i, s := range specialRunes {
		if hasPrefixFold(r, s) {
			return specials[i], len(s)
		}
	}
	return "", 0
}

func matchContraction(r []rune) int {
	for _, c := range contractions {
		if hasPrefixFold(r, c) {
			return len(c)
		}
	}
	return 0
}

// hasPrefixFold reports whether r starts with the ASCII prefix p, ignoring
// case as Python's re.IGNORECASE does (simple case folding, so the long s
// 'ſ' matches 's' and the Kelvin sign matches 'k').
func hasPrefixFold(r, p []rune) bool {
	if len(r) < len(p) {
		return false
	}
	for i, c := range p {
		if r[i] != c && !equalFold(r[i], c) {
			return false
		}
	}
	return true
}

func equalFold(a, b rune) bool {
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// isSpace reports whether Python's str.isspace (and so the \s of its regular
// expressions) is true for r.
func isSpace(r rune) bool {
	switch {
	case r <= 0x7f:
		return r == ' ' || '\t' <= r && r <= '\r' || 0x1c <= r && r <= 0x1f
	case r == 0x85, r == 0xa0, r == 0x1680, 0x2000 <= r && r <= 0x200a,
		r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}
