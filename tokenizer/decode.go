package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids back into text: the pieces' bytes joined, a space after
// each word end, start and end tokens skipped (so padding with the end token
// disappears; SD 2.x's padding id 0 decodes as "!"), invalid UTF-8 replaced
// by U+FFFD, and the result trimmed. Ids outside the vocabulary are skipped.
// Decode of Encode gives the normalised text, up to spaces.
func (t *Tokenizer) Decode(ids []int) string {
	var b []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) || id == t.bos || id == t.eos {
			continue
		}
		b = append(b, t.bytes[id]...)
		if t.wordEnd[id] {
			b = append(b, ' ')
		}
	}
	return strings.TrimSpace(validUTF8(b))
}

// validUTF8 replaces invalid UTF-8 as Python's decode(errors="replace")
// does: one U+FFFD for each maximal prefix of a valid sequence (the first
// bytes of a cut character), or for each other invalid byte.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var s strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			size = invalidPrefix(b)
		}
		s.WriteRune(r)
		b = b[size:]
	}
	return s.String()
}

// invalidPrefix returns the length of the longest prefix of b that starts a
// valid UTF-8 sequence but does not complete it (at least 1).
func invalidPrefix(b []byte) int {
	lo, hi := byte(0x80), byte(0xbf) // range of the second byte
	n := 0                           // bytes in the sequence
	switch c := b[0]; {
	case 0xc2 <= c && c <= 0xdf:
		n = 2
	case c == 0xe0:
		n, lo = 3, 0xa0
	case c == 0xed:
		n, hi = 3, 0x9f
	case 0xe1 <= c && c <= 0xef:
		n = 3
	case c == 0xf0:
		n, lo = 4, 0x90
	case c == 0xf4:
		n, hi = 4, 0x8f
	case 0xf1 <= c && c <= 0xf3:
		n = 4
	default:
		return 1
	}
	i := 1
	for ; i < n && i < len(b); i++ {
		if i == 1 && (b[i] < lo || b[i] > hi) || i > 1 && (b[i] < 0x80 || b[i] > 0xbf) {
			break
		}
	}
	return i
}
