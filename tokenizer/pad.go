package tokenizer

import (
	"fmt"
	"strings"
)

// Pad says what fills a padded sequence after its end token.
type Pad int

const (
	// PadSD1 pads with the end token (49407), as SD 1.x's tokenizer/ folder
	// and CompVis' code do.
	PadSD1 Pad = iota
	// PadSD2 pads with id 0 ("!"), as SD 2.x's own code (open_clip) does.
	PadSD2
)

// String returns "sd1" or "sd2".
func (p Pad) String() string {
	if p == PadSD2 {
		return "sd2"
	}
	return "sd1"
}

// Set parses "sd1" (or "eos") and "sd2" (or "zero", "0"). With String and
// Type it makes *Pad a command-line flag value (pflag.Value).
func (p *Pad) Set(s string) error {
	switch strings.ToLower(s) {
	case "sd1", "eos":
		*p = PadSD1
	case "sd2", "zero", "0":
		*p = PadSD2
	default:
		return fmt.Errorf("tokenizer: unknown padding %q (want sd1 or sd2)", s)
	}
	return nil
}

// Type names the flag value's type for help texts.
func (p *Pad) Type() string { return "sd1|sd2" }

// ParsePad parses "sd1" or "sd2" (see Pad.Set).
func ParsePad(s string) (Pad, error) {
	var p Pad
	err := p.Set(s)
	return p, err
}

// EncodePadded returns exactly n ids: the start token, the first n-2 ids of
// Encode(text), the end token, then padding — what CLIP's text encoder reads
// (n = ContextLength). Truncation keeps the end token. n below 2 is taken
// as 2.
func (t *Tokenizer) EncodePadded(text string, n int, pad Pad) []int {
	n = max(n, 2)
	ids := t.Encode(text)
	ids = ids[:min(len(ids), n-2)]
	out := make([]int, n)
	out[0] = t.bos
	copy(out[1:], ids)
	out[1+len(ids)] = t.eos
	fill := t.eos
	if pad == PadSD2 {
		fill = 0
	}
	for i := 2 + len(ids); i < n; i++ {
		out[i] = fill
	}
	return out
}
