package sdmini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/tokenizer"
)

// Vocab is a learned BPE vocabulary in the form package tokenizer reads
// (tokenizer.New, and vocab.json + merges.txt on disk).
type Vocab struct {
	IDs    map[string]int // piece -> id
	Merges [][2]string    // in rank order
}

// LearnBPE learns a byte-level BPE vocabulary from texts as GPT-2 and CLIP
// learned theirs: words are split as CLIP's tokenizer splits them (lower
// case, letters, single digits, runs of other symbols), spelled as their
// characters with "</w>" on the last, and the most frequent adjacent pair
// (ties broken by the pair's text, so the result is deterministic) is
// merged, again and again, until every word of the texts is one symbol.
//
// The vocabulary holds the 94 printable ASCII characters, alone and at a
// word's end, every merge's result, then <|startoftext|> and <|endoftext|>
// last: the end token has the largest id, which is how CLIP finds it.
// Characters outside ASCII encode as the end token (the unknown token).
func LearnBPE(texts []string) (*Vocab, error) {
	// 1. Count the words.
	count := map[string]int{}
	for _, text := range texts {
		for _, w := range splitWords(text) {
			count[w]++
		}
	}
	words := make([]string, 0, len(count))
	for w := range count {
		words = append(words, w)
	}
	slices.Sort(words)
	spelled := make([][]string, len(words)) // each word as its current symbols
	for i, w := range words {
		for _, r := range w {
			if r < '!' || r > '~' {
				return nil, fmt.Errorf("sdmini: bpe: word %q has a character outside printable ASCII", w)
			}
			spelled[i] = append(spelled[i], string(r))
		}
		spelled[i][len(spelled[i])-1] += "</w>"
	}

	// 2. The base alphabet: printable ASCII, then the same at a word's end.
	v := &Vocab{IDs: map[string]int{}}
	for c := '!'; c <= '~'; c++ {
		v.IDs[string(c)] = len(v.IDs)
	}
	for c := '!'; c <= '~'; c++ {
		v.IDs[string(c)+"</w>"] = len(v.IDs)
	}

	// 3. Merge the most frequent pair until every word is one symbol.
	for {
		pairs := map[[2]string]int{}
		for i, s := range spelled {
			for j := 0; j+1 < len(s); j++ {
				pairs[[2]string{s[j], s[j+1]}] += count[words[i]]
			}
		}
		if len(pairs) == 0 {
			break
		}
		var best [2]string
		bestN := -1
		for p, n := range pairs {
			if n > bestN || n == bestN && (p[0]+" "+p[1]) < (best[0]+" "+best[1]) {
				best, bestN = p, n
			}
		}
		joined := best[0] + best[1]
		v.Merges = append(v.Merges, best)
		if _, ok := v.IDs[joined]; !ok {
			v.IDs[joined] = len(v.IDs)
		}
		for i, s := range spelled {
			out := s[:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best[0] && s[j+1] == best[1] {
					out = append(out, joined)
					j++
					continue
				}
				out = append(out, s[j])
			}
			spelled[i] = out
		}
	}
	v.IDs[tokenizer.StartOfText] = len(v.IDs)
	v.IDs[tokenizer.EndOfText] = len(v.IDs)
	return v, nil
}

// splitWords splits normalised text as CLIP's pattern does for ASCII:
// letter runs, single digits, runs of other non-space symbols.
func splitWords(text string) []string {
	text = strings.ToLower(text)
	var out []string
	kind := func(r rune) int {
		switch {
		case unicode.IsSpace(r):
			return 0
		case unicode.IsLetter(r):
			return 1
		case unicode.IsDigit(r):
			return 2
		}
		return 3
	}
	start, prev := -1, 0
	for i, r := range text {
		k := kind(r)
		if start >= 0 && (k != prev || k == 2) {
			out = append(out, text[start:i])
			start = -1
		}
		if start < 0 && k != 0 {
			start = i
		}
		prev = k
	}
	if start >= 0 {
		out = append(out, text[start:])
	}
	return out
}

// Tokenizer builds the tokenizer of the vocabulary.
func (v *Vocab) Tokenizer() (*tokenizer.Tokenizer, error) { return tokenizer.New(v.IDs, v.Merges) }

// Write writes dir/vocab.json and dir/merges.txt in Hugging Face's format
// (what tokenizer.Load reads), atomically, creating dir.
func (v *Vocab) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sdmini: %w", err)
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false) // "</w>" stays readable
	if err := enc.Encode(v.IDs); err != nil {
		return err
	}
	var m strings.Builder
	m.WriteString("#version: 0.2\n")
	for _, p := range v.Merges {
		m.WriteString(p[0] + " " + p[1] + "\n")
	}
	if err := atomicfile.Write(filepath.Join(dir, tokenizer.VocabFile), js.Bytes(), true); err != nil {
		return fmt.Errorf("sdmini: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, tokenizer.MergesFile), []byte(m.String()), true); err != nil {
		return fmt.Errorf("sdmini: %w", err)
	}
	return nil
}
