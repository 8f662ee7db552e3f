package tokenizer

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// Normalize returns the text CLIP's BPE sees for a prompt: ftfy's fixes,
// then every run of whitespace collapsed to one space, the ends trimmed, and
// the text lower-cased as Python's str.lower does. This is transformers'
// whitespace_clean(ftfy.fix_text(text)).lower().
//
// The fixes are those of ftfy 6.1 that real prompts hit: HTML entities
// decoded (unless the line, or one before it, has a '<'), mojibake repaired
// ("cafÃ©" -> "café"), C1 controls read as Windows-1252, Latin ligatures and
// digraphs split, full-width forms narrowed, curly quotes straightened, line
// breaks unified, terminal escapes and control characters removed, and NFC.
//
// The encoders cut exactly written special tokens ("<|endoftext|>") out of a
// prompt before normalising the parts between them, as transformers does;
// the text they encode differs from Normalize(text) only where that matters
// to ftfy (an HTML entity on the same line as a special token).
func Normalize(text string) string {
	return string(normalize(text).r)
}

// span is a byte range [start, end) of the original prompt.
type span struct{ start, end int32 }

func (s span) union(o span) span {
	return span{min(s.start, o.start), max(s.end, o.end)}
}

// runeText is text being normalised: its characters and, for each, the
// bytes of the original prompt it came from. Every step that rewrites the
// text rewrites the spans with it, so tokens can point back into the prompt.
type runeText struct {
	r  []rune
	at []span
}

func (t *runeText) add(r rune, s span) {
	t.r = append(t.r, r)
	t.at = append(t.at, s)
}

func (t *runeText) addString(s string, sp span) {
	for _, r := range s {
		t.add(r, sp)
	}
}

// spanOf returns the span of the characters [i, j).
func (t runeText) spanOf(i, j int) span {
	s := t.at[i]
	for _, o := range t.at[i+1 : j] {
		s = s.union(o)
	}
	return s
}

func (t runeText) slice(i, j int) runeText {
	return runeText{t.r[i:j], t.at[i:j]}
}

// normalize is Normalize with the spans.
func normalize(text string) runeText {
	if t, ok := normalizeASCII(text); ok {
		return t
	}
	return lower(collapseSpace(fixText(runesOf(text))))
}

// runesOf splits text into characters, each with its bytes' span; an invalid
// byte becomes U+FFFD.
func runesOf(text string) runeText {
	in := runeText{r: make([]rune, 0, len(text)), at: make([]span, 0, len(text))}
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		in.add(r, span{int32(i), int32(i + n)})
		i += n
	}
	return in
}

// normalizeASCII is the fast path for plain ASCII text, which ftfy leaves
// alone: no '&' (HTML entities) and no control characters but whitespace.
func normalizeASCII(text string) (runeText, bool) {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 0x7f || c == '&' || c < ' ' && (c < '\t' || c > '\r' || c == '\v') {
			return runeText{}, false
		}
	}
	t := runeText{r: make([]rune, 0, len(text)), at: make([]span, 0, len(text))}
	for i := 0; i < len(text); i++ {
		c := rune(text[i])
		s := span{int32(i), int32(i + 1)}
		if isSpace(c) {
			if n := len(t.r); n > 0 && t.r[n-1] == ' ' {
				t.at[n-1] = t.at[n-1].union(s)
			} else {
				t.add(' ', s)
			}
			continue
		}
		t.add(unicode.ToLower(c), s)
	}
	return trimSpace(t), true
}

// collapseSpace replaces each run of whitespace by one space and trims the
// ends (transformers' whitespace_clean).
func collapseSpace(in runeText) runeText {
	var t runeText
	for i, r := range in.r {
		if isSpace(r) {
			if n := len(t.r); n > 0 && t.r[n-1] == ' ' && isSpace(in.r[i-1]) {
				t.at[n-1] = t.at[n-1].union(in.at[i])
			} else {
				t.add(' ', in.at[i])
			}
			continue
		}
		t.add(r, in.at[i])
	}
	return trimSpace(t)
}

func trimSpace(t runeText) runeText {
	i, j := 0, len(t.r)
	for i < j && t.r[i] == ' ' {
		i++
	}
	for j > i && t.r[j-1] == ' ' {
		j--
	}
	return t.slice(i, j)
}

// lower lower-cases the text as Python's str.lower does: the full Unicode
// mapping, so 'İ' becomes "i̇" (two characters), and a capital sigma that
// ends a word becomes the final 'ς'.
func lower(in runeText) runeText {
	t := runeText{r: make([]rune, 0, len(in.r)), at: make([]span, 0, len(in.at))}
	for i, r := range in.r {
		switch {
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
		case r == 'İ':
			t.add('i', in.at[i])
			r = '\u0307'
		case r == 'Σ':
			if finalSigma(in.r, i) {
				r = 'ς'
			} else {
				r = 'σ'
			}
		default:
			r = unicode.ToLower(r)
		}
		t.add(r, in.at[i])
	}
	return t
}

// finalSigma reports whether the sigma at r[i] ends a word: a cased letter
// before it and none after it, skipping case-ignorable characters (Unicode's
// Final_Sigma condition, as CPython implements it).
func finalSigma(r []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(r[j]) {
		j--
	}
	if j < 0 || !cased(r[j]) {
		return false
	}
	j = i + 1
	for j < len(r) && caseIgnorable(r[j]) {
		j++
	}
	return j == len(r) || !cased(r[j])
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// caseIgnorable approximates Unicode's Case_Ignorable property: marks,
// format characters, modifier letters and symbols, and the word-internal
// punctuation of Word_Break MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	if slices.Contains([]rune("'.:··՟״‘’․‧︓﹒﹕＇．："), r) {
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
