package main

import (
	"fmt"
	"strings"

	"github.com/sdgo/sdgo/tokenizer"
)

// tokenTable renders how tok reads prompt as a markdown table: the start
// token, each BPE piece with its id and the part of the prompt it came
// from, the end token, and the padding up to 77 ids with pad.
func tokenTable(tok *tokenizer.Tokenizer, prompt string, pad tokenizer.Pad) string {
	var sb strings.Builder
	sb.WriteString("| position | piece | id | from the prompt |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&sb, "| 0 | `%s` | %d | (start of text) |\n", cellCode(tokenizer.StartOfText), tok.BOS())
	toks := tok.EncodeWithSpans(prompt)
	for i, t := range toks {
		fmt.Fprintf(&sb, "| %d | `%s` | %d | %q |\n", i+1, cellCode(t.Piece), t.ID, prompt[t.Start:t.End])
	}
	ids := tok.EncodePadded(prompt, tokenizer.ContextLength, pad)
	n := len(toks) + 1
	fmt.Fprintf(&sb, "| %d | `%s` | %d | (end of text) |\n", n, cellCode(tokenizer.EndOfText), tok.EOS())
	if n+1 < len(ids) {
		fmt.Fprintf(&sb, "| %d…%d | `%s` | %d | padding |\n", n+1, len(ids)-1, cellCode(tok.Piece(ids[n+1])), ids[n+1])
	}
	return sb.String()
}

// cellCode escapes the pipes of s for a markdown table cell (GitHub splits
// cells at "|" even inside code).
func cellCode(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
