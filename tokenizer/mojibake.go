package tokenizer

import (
	"slices"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Mojibake is text that was encoded as UTF-8 and decoded with a single-byte
// code page, so each byte of a multi-byte character became a character of
// its own: "é" (C3 A9) read as Windows-1252 is "Ã©". ftfy repairs it by
// encoding the text back with that code page and decoding the bytes as
// UTF-8. This file ports ftfy 6.1's fix_encoding; the only step left out is
// restoring a no-break space (byte A0) that an editor turned into a space.

// codepage is a single-byte encoding as ftfy uses it.
type codepage struct {
	decode [256]rune
	encode map[rune]byte
	sloppy bool
}

func newCodepage(decode func(b byte) rune, sloppy bool) *codepage {
	cp := &codepage{encode: make(map[rune]byte, 256), sloppy: sloppy}
	for b := range 256 {
		r := decode(byte(b))
		if sloppy && r == utf8.RuneError {
			r = rune(b) // ftfy's "sloppy" pages keep undefined bytes as Latin-1
		}
		if sloppy && b == 0x1a {
			r = utf8.RuneError // and use byte 1A for U+FFFD
		}
		cp.decode[b] = r
		cp.encode[r] = byte(b)
	}
	return cp
}

func sloppy(m *charmap.Charmap) *codepage { return newCodepage(m.DecodeByte, true) }

var (
	latin1      = newCodepage(func(b byte) rune { return rune(b) }, false)
	windows1252 = sloppy(charmap.Windows1252)

	// codepages are the encodings ftfy tries, in its order.
	codepages = []*codepage{
		latin1,
		windows1252,
		sloppy(charmap.Windows1251),
		sloppy(charmap.Windows1250),
		sloppy(charmap.Windows1253),
		sloppy(charmap.Windows1254),
		sloppy(charmap.Windows1257),
		newCodepage(charmap.ISO8859_2.DecodeByte, false),
		newCodepage(charmap.Macintosh.DecodeByte, false),
		newCodepage(charmap.CodePage437.DecodeByte, false),
	}
)

// fixEncoding repairs mojibake in one line, repeating until it stops
// changing (ftfy's fix_encoding). Each decoded character keeps the span of
// the characters its bytes came from.
func fixEncoding(t runeText) runeText {
	for range 8 {
		fixed, ok := fixEncodingStep(t)
		if !ok {
			break
		}
		t = fixed
	}
	return t
}

// fixEncodingStep is one step of fixEncoding; it reports whether it changed
// the text.
func fixEncodingStep(in runeText) (runeText, bool) {
	// Leave ASCII, and text that does not look like mojibake, alone.
	if isASCII(in.r) || !isBad(string(in.r)) {
		return in, false
	}
	// The whole line: the first code page that can encode it and whose bytes
	// are UTF-8 wins.
	for _, cp := range codepages {
		if t, ok := redecode(in, cp); ok {
			return t, true
		}
	}
	// Runs of UTF-8-looking characters inside other text, fixed on their own
	// (ftfy's decode_inconsistent_utf8).
	var out runeText
	changed := false
	last := 0
	for _, run := range utf8Runs(in.r) {
		sub := in.slice(run[0], run[1])
		if run[1]-run[0] == len(in.r) || !isBad(string(sub.r)) {
			continue
		}
		fixed := fixEncoding(runeText{slices.Clone(sub.r), slices.Clone(sub.at)})
		if slices.Equal(fixed.r, sub.r) {
			continue
		}
		out.r = append(append(out.r, in.r[last:run[0]]...), fixed.r...)
		out.at = append(append(out.at, in.at[last:run[0]]...), fixed.at...)
		last, changed = run[1], true
	}
	if !changed {
		return in, false
	}
	out.r = append(out.r, in.r[last:]...)
	out.at = append(out.at, in.at[last:]...)
	return out, true
}

func isASCII(r []rune) bool {
	for _, c := range r {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// redecode encodes the text with cp and decodes the bytes as UTF-8,
// reporting false if a character cannot be encoded or the bytes are not
// UTF-8.
func redecode(in runeText, cp *codepage) (runeText, bool) {
	b := make([]byte, len(in.r))
	for i, r := range in.r {
		c, ok := cp.encode[r]
		if !ok {
			return runeText{}, false
		}
		b[i] = c
	}
	var out runeText
	for i := 0; i < len(b); {
		r, n := decodeUTF8Variant(b[i:])
		if cp.sloppy {
			if m := lossyLen(b[i:]); m > 0 {
				r, n = utf8.RuneError, m
			}
		}
		if n == 0 {
			return runeText{}, false
		}
		out.add(r, in.spanOf(i, i+n)) // one byte per input character
		i += n
	}
	return out, true
}

// decodeUTF8Variant decodes the first character of b as UTF-8, also
// accepting the variants ftfy does: CESU-8 (a surrogate pair as two 3-byte
// sequences, from Java) and C0 80 for U+0000. It returns n = 0 if b does not
// start with a valid sequence.
func decodeUTF8Variant(b []byte) (rune, int) {
	if r, n := utf8.DecodeRune(b); r != utf8.RuneError || n > 1 {
		return r, n
	}
	if len(b) >= 2 && b[0] == 0xc0 && b[1] == 0x80 {
		return 0, 2
	}
	if len(b) >= 6 && b[0] == 0xed && 0xa0 <= b[1] && b[1] <= 0xaf && isCont(b[2]) &&
		b[3] == 0xed && 0xb0 <= b[4] && b[4] <= 0xbf && isCont(b[5]) {
		hi := 0xd000 | rune(b[1]&0x3f)<<6 | rune(b[2]&0x3f)
		lo := 0xd000 | rune(b[4]&0x3f)<<6 | rune(b[5]&0x3f)
		return 0x10000 + (hi-0xd800)<<10 + (lo - 0xdc00), 6
	}
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbf && b[2] == 0xbd {
		return utf8.RuneError, 3 // a real U+FFFD
	}
	return 0, 0
}

func isCont(c byte) bool { return 0x80 <= c && c <= 0xbf }

// lossyLen returns the length of a UTF-8 sequence at the start of b that
// lost bytes: the sloppy code pages encode U+FFFD (a byte that was already
// lost) as 1A, so a lead byte with 1A among its continuation bytes, or 1A
// alone, decodes to U+FFFD (ftfy's replace_lossy_sequences).
func lossyLen(b []byte) int {
	contOr1A := func(c byte) bool { return c == 0x1a || isCont(c) }
	// has1A reports whether b[1:n] are continuation bytes or 1A with at
	// least one 1A.
	has1A := func(n int) bool {
		if len(b) < n {
			return false
		}
		lost := false
		for _, c := range b[1:n] {
			if !contOr1A(c) {
				return false
			}
			lost = lost || c == 0x1a
		}
		return lost
	}
	switch c := b[0]; {
	case c == 0x1a:
		return 1
	case 0xc2 <= c && c <= 0xdf && has1A(2):
		return 2
	case c == 0xed && len(b) >= 6 && 0xa0 <= b[1] && b[1] <= 0xaf && b[3] == 0xed && 0xb0 <= b[4] && b[4] <= 0xbf &&
		contOr1A(b[2]) && contOr1A(b[5]) && (b[2] == 0x1a || b[5] == 0x1a):
		return 6 // a CESU-8 surrogate pair
	case 0xe0 <= c && c <= 0xef && has1A(3):
		return 3
	case 0xf0 <= c && c <= 0xf4 && has1A(4):
		return 4
	}
	return 0
}

// The characters that UTF-8 lead and continuation bytes become in the
// Windows code pages and Latin-1 (ftfy's UTF8_CLUES).
var (
	utf8First2, utf8First3, utf8First4 = map[rune]bool{}, map[rune]bool{}, map[rune]bool{}
	utf8Cont, utf8ContStrict           = map[rune]bool{}, map[rune]bool{}
)

func init() {
	for _, cp := range codepages[:7] { // Latin-1 and the Windows pages
		for b := 0x80; b <= 0xff; b++ {
			r := cp.decode[b]
			switch {
			case b <= 0xbf:
				utf8Cont[r] = true
				// Dashes, quotes, bullets and ellipses often stand for
				// themselves next to mojibake.
				utf8ContStrict[r] = !slices.Contains([]rune("–—―‘’‚“”„•…"), r)
			case 0xc2 <= b && b <= 0xdf:
				utf8First2[r] = true
			case 0xe0 <= b && b <= 0xef:
				utf8First3[r] = true
			case b == 0xf0 || b == 0xf3: // other lead bytes start unassigned characters
				utf8First4[r] = true
			}
		}
	}
}

// utf8Runs finds the runs of characters that look like UTF-8 bytes (a lead
// character and its continuation characters, repeated), not preceded by a
// continuation character, so that a few characters are not "fixed" in the
// middle of a longer garble.
func utf8Runs(r []rune) [][2]int {
	var runs [][2]int
	for i := 0; i < len(r); {
		j := i
		if i == 0 || !utf8ContStrict[r[i-1]] {
			for n := utf8SeqAt(r[j:]); n > 0; n = utf8SeqAt(r[j:]) {
				j += n
			}
		}
		if j > i {
			runs = append(runs, [2]int{i, j})
			i = j
		} else {
			i++
		}
	}
	return runs
}

// utf8SeqAt returns the length of the UTF-8-looking sequence r starts with.
func utf8SeqAt(r []rune) int {
	for n, first := range []map[rune]bool{2: utf8First2, 3: utf8First3, 4: utf8First4} {
		if n == 0 || len(r) < n || !first[r[0]] {
			continue
		}
		ok := true
		for _, c := range r[1:n] {
			ok = ok && utf8Cont[c]
		}
		if ok {
			return n
		}
	}
	return 0
}
