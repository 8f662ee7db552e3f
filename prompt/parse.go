// Package prompt reads the prompt syntax that AUTOMATIC1111's web UI made
// common — emphasis with (word), (word:1.2) and [word], and BREAK — and
// splits long prompts into the 75-token chunks that CLIP encodes one by one.
//
// The rules are the web UI's (modules/prompt_parser.py and sd_hijack_clip.py),
// so a prompt written for it means the same here:
//
//	(abc)      multiplies the attention to abc by 1.1
//	(abc:3.12) multiplies it by 3.12
//	[abc]      divides it by 1.1
//	\( \) \[ \] \\  are the literal characters
//	BREAK      (upper case, a word on its own) starts a new chunk
//
// Unbalanced brackets are closed at the end of the prompt.
package prompt

import (
	"regexp"
	"strconv"
	"strings"
)

// Segment is a run of prompt text with one attention weight. A Segment with
// Break set stands for BREAK and carries no text.
type Segment struct {
	Text   string
	Weight float64
	Break  bool
}

// The web UI's tokens: escapes, brackets, ":weight)", runs of plain text, ":".
var reAttention = regexp.MustCompile(`\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()\[\]:]+|:`)

var reBreak = regexp.MustCompile(`\s*\bBREAK\b\s*`)

const (
	roundMultiplier  = 1.1
	squareMultiplier = 1 / 1.1
)

// Parse splits text into weighted segments, merging neighbours of equal
// weight. An empty prompt gives one empty segment of weight 1.
//
//	Parse("a (cat:1.5) in the garden") = [{"a ", 1} {"cat", 1.5} {" in the garden", 1}]
func Parse(text string) []Segment {
	var res []Segment
	var round, square []int
	multiply := func(from int, m float64) {
		for i := from; i < len(res); i++ {
			res[i].Weight *= m
		}
	}
	for _, m := range reAttention.FindAllStringSubmatchIndex(text, -1) {
		tok := text[m[0]:m[1]]
		hasWeight := m[2] >= 0
		switch {
		case strings.HasPrefix(tok, `\`) && len(tok) > 1:
			res = append(res, Segment{Text: tok[1:], Weight: 1})
		case tok == "(":
			round = append(round, len(res))
		case tok == "[":
			square = append(square, len(res))
		case hasWeight && len(round) > 0:
			w, err := strconv.ParseFloat(text[m[2]:m[3]], 64)
			if err != nil {
				// Python's float() would raise here; the web UI then shows an
				// error. Treat the malformed weight as text instead.
				res = append(res, Segment{Text: tok, Weight: 1})
				continue
			}
			multiply(round[len(round)-1], w)
			round = round[:len(round)-1]
		case tok == ")" && len(round) > 0:
			multiply(round[len(round)-1], roundMultiplier)
			round = round[:len(round)-1]
		case tok == "]" && len(square) > 0:
			multiply(square[len(square)-1], squareMultiplier)
			square = square[:len(square)-1]
		default:
			for i, part := range reBreak.Split(tok, -1) {
				if i > 0 {
					res = append(res, Segment{Break: true, Weight: -1})
				}
				res = append(res, Segment{Text: part, Weight: 1})
			}
		}
	}
	for _, p := range round {
		multiply(p, roundMultiplier)
	}
	for _, p := range square {
		multiply(p, squareMultiplier)
	}
	if len(res) == 0 {
		return []Segment{{Text: "", Weight: 1}}
	}
	// Merge neighbours of identical weight; BREAK markers never merge.
	out := res[:1]
	for _, s := range res[1:] {
		last := &out[len(out)-1]
		if !s.Break && !last.Break && s.Weight == last.Weight {
			last.Text += s.Text
			continue
		}
		out = append(out, s)
	}
	return out
}
