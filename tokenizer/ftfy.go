package tokenizer

import (
	"html"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// fixText applies the fixes of ftfy.fix_text (ftfy 6.1, default settings)
// that real prompts hit. Like ftfy it works line by line, and repeats the
// fixes on a line until nothing changes:
//
//  1. HTML entities are decoded (&amp; &eacute; &#39;), unless the text has
//     a '<' – then it may be real HTML, and this line and the following
//     ones are left alone.
//  2. Mojibake is repaired: text that is UTF-8 read as Latin-1, a Windows
//     code page, MacRoman or CP437 ("cafÃ©") is decoded again ("café").
//  3. C1 control characters are read as Windows-1252 ("\x93" -> '“').
//  4. Latin ligatures and digraphs are split ('ﬁ' -> "fi", 'Ǆ' -> "DŽ").
//  5. Full-width and half-width forms become normal width ('Ａ' -> 'A', and
//     the ideographic space U+3000 -> ' ').
//  6. Curly quotes become straight (‘’ -> ', “” -> ").
//  7. Line breaks ("\r\n", '\r', U+2028, U+2029, U+0085) become "\n".
//  8. Terminal escapes ("\x1b[31m") and control characters (C0 but tab,
//     newline, form feed and carriage return; DEL; BOM; bidi/format
//     controls U+206A-206F; U+FFF9-FFFC) are removed.
//  9. The text is put in Unicode NFC.
//
// Mojibake repair follows ftfy's fix_encoding (see mojibake.go), except
// that a space standing for a lost no-break space is not restored.
func fixText(in runeText) runeText {
	var out runeText
	unescape := true
	for start := 0; start < len(in.r); {
		end := start + 1
		for end < len(in.r) && in.r[end-1] != '\n' {
			end++
		}
		seg := in.slice(start, end)
		if unescape && slices.Contains(seg.r, '<') {
			unescape = false // as ftfy: for this line and all after it
		}
		seg = fixSegment(runeText{slices.Clone(seg.r), slices.Clone(seg.at)}, unescape)
		out.r = append(out.r, seg.r...)
		out.at = append(out.at, seg.at...)
		start = end
	}
	return out
}

// fixSegment applies the fixes to one line until it stops changing.
func fixSegment(t runeText, unescape bool) runeText {
	for range 16 { // ftfy loops until nothing changes; this bound is never reached in practice
		before := slices.Clone(t.r)
		if unescape {
			t = unescapeHTML(t)
		}
		t = fixEncoding(t)
		t = mapRunes(t, fixC1)
		t = mapRunes(t, fixLigature)
		t = mapRunes(t, fixWidth)
		t = mapRunes(t, uncurlQuote)
		t = fixLineBreaks(t)
		t = removeTerminalEscapes(t)
		t = mapRunes(t, removeControl)
		t = nfc(t)
		if slices.Equal(before, t.r) {
			break
		}
	}
	return t
}

// mapRunes replaces each character r for which f returns (s, true) by s,
// which keeps r's span.
func mapRunes(in runeText, f func(r rune) (string, bool)) runeText {
	var out runeText
	for i, r := range in.r {
		s, ok := f(r)
		if !ok {
			if out.r != nil {
				out.add(r, in.at[i])
			}
			continue
		}
		if out.r == nil { // first change: copy what came before
			out.r = append(make([]rune, 0, len(in.r)), in.r[:i]...)
			out.at = append(make([]span, 0, len(in.r)), in.at[:i]...)
		}
		out.addString(s, in.at[i])
	}
	if out.r == nil {
		return in
	}
	return out
}

// unescapeHTML decodes the HTML entities matching ftfy's pattern
// &#?[0-9A-Za-z]{1,24}; — named entities of HTML5 (and, as ftfy does, the
// upper-cased names of lower-case ones: &EACUTE; -> 'É'), and numeric ones.
// The decoded characters keep the span of the whole entity.
func unescapeHTML(in runeText) runeText {
	if !slices.Contains(in.r, '&') {
		return in
	}
	var out runeText
	for i := 0; i < len(in.r); {
		if in.r[i] == '&' {
			j := i + 1
			if j < len(in.r) && in.r[j] == '#' {
				j++
			}
			k := j
			for k < len(in.r) && k-j <= 24 && isASCIIAlnum(in.r[k]) {
				k++
			}
			if n := k - j; n >= 1 && n <= 24 && k < len(in.r) && in.r[k] == ';' {
				if s, ok := entity(string(in.r[i : k+1])); ok {
					out.addString(s, in.spanOf(i, k+1))
					i = k + 1
					continue
				}
			}
		}
		out.add(in.r[i], in.at[i])
		i++
	}
	return out
}

func isASCIIAlnum(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// entity decodes one "&name;" or "&#number;".
func entity(e string) (string, bool) {
	name := e[1 : len(e)-1]
	if name[0] == '#' {
		return charRef(name[1:])
	}
	if s := html.UnescapeString(e); s != e && !strings.Contains(s, ";") {
		return s, true
	}
	// ftfy also decodes an upper-cased lower-case name: &NTILDE; -> 'Ñ'.
	if low := strings.ToLower(e); e == strings.ToUpper(e) && low != e {
		if s := html.UnescapeString(low); s != low && !strings.Contains(s, ";") {
			return upper.String(s), true
		}
	}
	return "", false
}

// upper upper-cases as Python's str.upper does ('ß' -> "SS").
var upper = cases.Upper(language.Und)

// charRef decodes the number of a numeric character reference ("39",
// "x27") as Python's html.unescape does.
func charRef(num string) (string, bool) {
	base := 10
	if num[0] == 'x' || num[0] == 'X' {
		num, base = num[1:], 16
	}
	if num == "" {
		return "", false
	}
	n := 0
	for _, c := range num {
		d := strings.IndexRune("0123456789abcdef", unicode.ToLower(c))
		if d < 0 || d >= base {
			return "", false // "&#12ab;" is not a reference
		}
		n = min(n*base+d, 0x110000) // anything larger is out of range anyway
	}
	switch {
	case n == 0:
		return "\ufffd", true
	case n == '\r':
		return "\r", true
	case 0x80 <= n && n <= 0x9f:
		return string(windows1252.decode[n]), true // browsers read these as Windows-1252
	case 0xd800 <= n && n <= 0xdfff, n > unicode.MaxRune:
		return "\ufffd", true
	case n < 0x20 && n != '\t' && n != '\n' && n != '\f', n == 0x7f,
		0xfdd0 <= n && n <= 0xfdef, n&0xfffe == 0xfffe:
		return "", true // not a character HTML allows
	}
	return string(rune(n)), true
}

// fixC1 reads a C1 control character as the Windows-1252 byte it was.
func fixC1(r rune) (string, bool) {
	if 0x80 <= r && r <= 0x9f {
		return string(windows1252.decode[r]), true
	}
	return "", false
}

// ligatures are the Latin ligatures and digraphs ftfy splits.
var ligatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

func fixLigature(r rune) (string, bool) {
	s, ok := ligatures[r]
	return s, ok
}

// fixWidth maps U+3000 to a space and the full-width and half-width forms
// U+FF01-U+FFEF to their NFKC equivalents.
func fixWidth(r rune) (string, bool) {
	if r == 0x3000 {
		return " ", true
	}
	if 0xff01 <= r && r <= 0xffef {
		if s := norm.NFKC.String(string(r)); s != string(r) {
			return s, true
		}
	}
	return "", false
}

func uncurlQuote(r rune) (string, bool) {
	switch {
	case r == 0x02bc || 0x2018 <= r && r <= 0x201b:
		return "'", true
	case 0x201c <= r && r <= 0x201f:
		return `"`, true
	}
	return "", false
}

func fixLineBreaks(in runeText) runeText {
	var out runeText
	changed := false
	for i := 0; i < len(in.r); i++ {
		switch r := in.r[i]; {
		case r == '\r' && i+1 < len(in.r) && in.r[i+1] == '\n':
			out.add('\n', in.spanOf(i, i+2))
			i++
			changed = true
		case r == '\r' || r == 0x2028 || r == 0x2029 || r == 0x85:
			out.add('\n', in.at[i])
			changed = true
		default:
			out.add(r, in.at[i])
		}
	}
	if !changed {
		return in
	}
	return out
}

// removeTerminalEscapes removes ANSI escapes, ESC '[' [digits;]* letter.
func removeTerminalEscapes(in runeText) runeText {
	if !slices.Contains(in.r, 0x1b) {
		return in
	}
	var out runeText
	for i := 0; i < len(in.r); {
		if in.r[i] == 0x1b && i+1 < len(in.r) && in.r[i+1] == '[' {
			j := i + 2
			for j < len(in.r) && (unicode.IsDigit(in.r[j]) || in.r[j] == ';') {
				j++
			}
			if j < len(in.r) && (in.r[j] < utf8.RuneSelf && unicode.IsLetter(in.r[j])) {
				i = j + 1
				continue
			}
		}
		out.add(in.r[i], in.at[i])
		i++
	}
	return out
}

// removeControl drops the control characters ftfy removes.
func removeControl(r rune) (string, bool) {
	switch {
	case r < 0x20:
		return "", r < '\t' || r == '\v' || r > '\r'
	case r == 0x7f, 0x206a <= r && r <= 0x206f, r == 0xfeff, 0xfff9 <= r && r <= 0xfffc:
		return "", true
	}
	return "", false
}

// nfc puts the text in Unicode NFC. It works on runs that start at a
// character NFC never combines with what precedes it, so each composed
// character keeps the span of the characters it was made of.
func nfc(in runeText) runeText {
	if norm.NFC.IsNormalString(string(in.r)) {
		return in
	}
	var out runeText
	for i := 0; i < len(in.r); {
		j := i + 1
		for j < len(in.r) && !norm.NFC.PropertiesString(string(in.r[j])).BoundaryBefore() {
			j++
		}
		s := in.spanOf(i, j)
		out.addString(norm.NFC.String(string(in.r[i:j])), s)
		i = j
	}
	return out
}
