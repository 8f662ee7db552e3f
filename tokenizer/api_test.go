package tokenizer

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestEncodeWithSpans(t *testing.T) {
	tok := loadRef(t)["hf"]
	tests := []struct {
		prompt string
		want   []string // prompt[Start:End] of each token
	}{
		{"a photo of a cat", []string{"a", "photo", "of", "a", "cat"}},
		{"  A  Photo\n", []string{"A", "Photo"}},
		{"(red:1.2) car", []string{"(", "red", ":", "1", ".", "2", ")", "car"}},
		{"Tom &amp; Jerry", []string{"Tom", "&amp;", "Jerry"}},
		{"\ufb01sh", []string{"\ufb01sh"}},                         // "ﬁsh" -> fish
		{"caf\u00c3\u00a9", []string{"caf\u00c3\u00a9"}},           // mojibake -> café
		{"\u201chi\u201d", []string{"\u201c", "hi", "\u201d"}},     // curly quotes
		{"\u0130stanbul", []string{"\u0130", "\u0130", "stanbul"}}, // İ -> i + U+0307
		{"\U0001F431 cat", []string{"\U0001F431", "cat"}},
		{"\U0001F468\u200d\U0001F469", []string{"\U0001F468\u200d", "\U0001F469", "\U0001F469"}}, // 👩 is split in two
		{"a <|ENDOFTEXT|> b", []string{"a", "<|ENDOFTEXT|>", "b"}},
		{"a<|endoftext|>b  <|startoftext|>", []string{"a", "<|endoftext|>", "b", "<|startoftext|>"}},
		{"e\u0301t\u00e9", []string{"e\u0301", "t\u00e9"}}, // NFC composes e + U+0301
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range tok.EncodeWithSpans(tt.prompt) {
			got = append(got, tt.prompt[tk.Start:tk.End])
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("EncodeWithSpans(%+q) spans = %+q, want %+q (pieces %q)", tt.prompt, got, tt.want, tok.Pieces(tt.prompt))
		}
	}
}

// TestSpansReference checks the spans of every reference prompt: in order,
// inside the prompt, and on ASCII prompts covering exactly the token's text.
func TestSpansReference(t *testing.T) {
	tok := loadRef(t)["hf"]
	for i, r := range loadRows(t) {
		ascii := normalizeASCIIOK(r.Prompt)
		start := 0
		for _, tk := range tok.EncodeWithSpans(r.Prompt) {
			if tk.Start < start || tk.End <= tk.Start || tk.End > len(r.Prompt) {
				t.Fatalf("row %d %+q: token %+v: bad span", i, r.Prompt, tk)
			}
			start = tk.Start
			if ascii && tk.ID != tok.EOS() && tk.ID != tok.BOS() {
				got := strings.ToLower(r.Prompt[tk.Start:tk.End])
				if want := string(tok.bytes[tk.ID]); got != want {
					t.Errorf("row %d %+q: token %q covers %q", i, r.Prompt, tk.Piece, got)
				}
			}
		}
	}
}

// normalizeASCIIOK reports whether s is printable ASCII without '&'.
func normalizeASCIIOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' || s[i] == '&' {
			return false
		}
	}
	return true
}

// TestSpecialSplit checks that exact special tokens are cut out before
// normalisation, as transformers' tokenize does with its trie of special
// tokens, while other spellings go through the split pattern.
func TestSpecialSplit(t *testing.T) {
	tok := loadRef(t)["hf"]
	tests := []struct {
		text string
		want []string
	}{
		// The part before the token has no '<', so ftfy decodes its entity.
		{"&amp; <|endoftext|>", []string{"&</w>", "<|endoftext|>"}},
		{"!<|endoftext|>", []string{"!</w>", "<|endoftext|>"}},
		{"!<|ENDOFTEXT|>", []string{"!", "<", "|</w>", "endof", "text</w>", "|", "></w>"}}, // words "!<|" "endoftext" "|>"
		{"<|startoftext|><|endoftext|>", []string{"<|startoftext|>", "<|endoftext|>"}},
		{"<|endoftext", []string{"<", "|</w>", "endof", "text</w>"}},
	}
	for _, tt := range tests {
		if got := tok.Pieces(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("Pieces(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestEncodePadded(t *testing.T) {
	tok := loadRef(t)["hf"]
	tests := []struct {
		text    string
		n       int
		pad     Pad
		wantLen int
		tail    int // id at the end
	}{
		{strings.Repeat("a ", 75), 77, PadSD1, 77, 49407},
		{strings.Repeat("a ", 76), 77, PadSD2, 77, 49407},
		{"a cat", 77, PadSD2, 77, 0},
		{"a cat", 1, PadSD1, 2, 49407},
	}
	for _, tt := range tests {
		ids := tok.EncodePadded(tt.text, tt.n, tt.pad)
		if len(ids) != tt.wantLen || ids[0] != tok.BOS() || ids[len(ids)-1] != tt.tail {
			t.Errorf("EncodePadded(%.20q..., %d, %v) = %v", tt.text, tt.n, tt.pad, ids)
		}
	}
}

func TestDecode(t *testing.T) {
	tok := loadRef(t)["hf"]
	tests := []struct {
		ids  []int
		want string
	}{
		{[]int{49406, 320, 1125, 539, 320, 2368, 49407, 49407}, "a photo of a cat"},
		{[]int{-1, 1 << 30, 320}, "a"},
		{nil, ""},
		{tok.Encode("</w> typed"), "</ w > typed"}, // three words
		{tok.Encode("Straße 東京"), "straße 東京"},
		{[]int{tok.Encode("東")[0]}, "\ufffd"}, // half a character
	}
	for _, tt := range tests {
		if got := tok.Decode(tt.ids); got != tt.want {
			t.Errorf("Decode(%v) = %q, want %q", tt.ids, got, tt.want)
		}
	}
}

// TestConcurrent encodes from several goroutines at once (run with -race).
func TestConcurrent(t *testing.T) {
	tok := loadRef(t)["hf"]
	rows := loadRows(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(rows); i += 2 {
				if got := tok.Encode(rows[i].Prompt); !slices.Equal(got, rows[i].Raw) {
					t.Errorf("row %d: concurrent Encode differs", i)
				}
			}
		})
	}
	wg.Wait()
}

func TestPad(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Pad
		ok   bool
	}{{"sd1", PadSD1, true}, {"SD2", PadSD2, true}, {"eos", PadSD1, true}, {"zero", PadSD2, true}, {"sd3", 0, false}} {
		p, err := ParsePad(tt.in)
		if (err == nil) != tt.ok || p != tt.want {
			t.Errorf("ParsePad(%q) = %v, %v", tt.in, p, err)
		}
		if tt.ok && p.String() != map[Pad]string{PadSD1: "sd1", PadSD2: "sd2"}[p] {
			t.Errorf("%v.String() = %q", p, p.String())
		}
	}
}
