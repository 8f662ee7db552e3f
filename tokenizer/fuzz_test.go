package tokenizer

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fuzzSeeds are inputs both fuzz tests start from.
var fuzzSeeds = []string{
	"a photo of a cat",
	"(masterpiece:1.2), A Knight   in\tarmor\n",
	"cafÃ© crÃ¨me &amp; caf&eacute; “quoted” ﬁsh Ｈｅｌｌｏ",
	"ΟΔΟΣ İstanbul straße 東京タワー 🏳️‍🌈",
	"<|endoftext|> <|ENDOFTEXT|> </w> 's 'LL",
	"\x1b[31mred\x1b[0m \x93c1\x94 \ufeff\x00\x7f\r\n\u2028",
	"\xff\xfe invalid \xc3 utf-8 \xed\xa0\x80",
	"&lt;b&gt;&amp;amp;\n<i>&amp;</i>",
	strings.Repeat("a ", 80),
	strings.Repeat("x", 300),
}

// FuzzEncode checks that any byte string encodes without panicking to ids of
// the vocabulary, with spans inside the input, and that decoding gives back
// the normalised text (up to spaces): BPE loses nothing.
func FuzzEncode(f *testing.F) {
	tok := loadRef(f)["hf"] // skips when the vocabulary is absent
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := tok.EncodeWithSpans(s)
		ids := tok.Encode(s)
		if len(ids) != len(toks) {
			t.Fatalf("Encode gives %d ids, EncodeWithSpans %d tokens", len(ids), len(toks))
		}
		start := 0
		for i, tk := range toks {
			if tk.ID != ids[i] || tk.ID < 0 || tk.ID >= tok.VocabSize() || tok.Piece(tk.ID) == "" || tk.Piece != tok.Piece(tk.ID) {
				t.Fatalf("token %d: %+v (Encode id %d) not in the vocabulary", i, tk, ids[i])
			}
			if tk.Start < start || tk.End < tk.Start || tk.End > len(s) {
				t.Fatalf("token %d: span [%d, %d) out of order or outside the input (%d bytes, previous start %d)",
					i, tk.Start, tk.End, len(s), start)
			}
			start = tk.Start
		}
		padded := tok.EncodePadded(s, ContextLength, PadSD1)
		if len(padded) != ContextLength || padded[0] != tok.BOS() || !containsID(padded, tok.EOS()) {
			t.Fatalf("EncodePadded = %v", padded)
		}

		clean := Normalize(s)
		if strings.Contains(clean, StartOfText) || strings.Contains(clean, EndOfText) {
			return // Decode drops the special tokens
		}
		got := strings.ReplaceAll(tok.Decode(ids), " ", "")
		if want := strings.ReplaceAll(clean, " ", ""); got != want {
			t.Fatalf("Decode(Encode(%+q)) = %+q, want %+q (spaces removed)", s, got, want)
		}
		if plainWords(s) {
			got, want := strings.Fields(tok.Decode(ids)), strings.Fields(strings.ToLower(s))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("Decode(Encode(%q)) words = %q, want %q", s, got, want)
			}
		}
	})
}

func containsID(ids []int, id int) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// plainWords reports whether s is ASCII letters and spaces only.
func plainWords(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == ' ') {
			return false
		}
	}
	return true
}

// FuzzNormalize checks the normaliser alone (it needs no vocabulary): no
// panic, and the output is valid UTF-8 without control characters, with
// single spaces only between words and no upper-case ASCII; the text before
// lower-casing is NFC. (The output itself need not be, nor is the
// reference's, which lower-cases after ftfy's NFC: "Y\u030a" has no composed
// form, but its lower case "y\u030a" composes to "ẙ". Nor is it idempotent:
// "&Amp;" is no entity, but its lower-case form "&amp;" is.)
func FuzzNormalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clean := Normalize(s)
		fixed := string(collapseSpace(fixText(runesOf(s))).r) // before lower-casing
		switch {
		case !utf8.ValidString(clean):
			t.Fatalf("Normalize(%+q) = %+q: invalid UTF-8", s, clean)
		case !norm.NFC.IsNormalString(fixed):
			t.Fatalf("Normalize(%+q) before lower-casing = %+q: not NFC", s, fixed)
		case strings.TrimSpace(clean) != clean || strings.Contains(clean, "  "):
			t.Fatalf("Normalize(%+q) = %+q: spaces not collapsed", s, clean)
		}
		for _, r := range clean {
			if r != ' ' && (isSpace(r) || unicode.IsControl(r) && !(0x80 <= r && r <= 0x9f)) || 'A' <= r && r <= 'Z' {
				t.Fatalf("Normalize(%+q) = %+q: holds %U", s, clean, r)
			}
		}
	})
}
