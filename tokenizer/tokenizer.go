// Package tokenizer turns a prompt into the token ids CLIP's text encoder
// reads, exactly as Stable Diffusion runs it: transformers' CLIPTokenizer with
// ftfy installed.
//
// The work happens in three stages, each testable on its own:
//
//  1. Normalize cleans the text the way ftfy.fix_text does for real prompts
//     (HTML entities, curly quotes, ligatures, full-width forms, control
//     characters, mojibake, NFC), then collapses whitespace and lower-cases it.
//  2. The clean text is split into words by CLIP's pattern: the special
//     tokens, the contractions 's 't 're 've 'm 'll 'd, runs of letters,
//     single digits, and runs of other symbols.
//  3. Each word's UTF-8 bytes are split by byte-level BPE into vocabulary
//     pieces, the last piece of a word ending in "</w>".
//
// Loading the vocabulary of a Stable Diffusion model and encoding a prompt:
//
//	tok, err := tokenizer.Load("models/stable-diffusion-v1-5") // or its tokenizer/ folder
//	if err != nil {
//		return err
//	}
//	ids := tok.EncodePadded("a photo of a cat", 77, tokenizer.PadSD1)
//	// [49406 320 1125 539 320 2368 49407 49407 ... 49407]
//
// Load reads either form of CLIP's vocabulary: the vocab.json and merges.txt
// of a diffusers model's tokenizer/ folder, or OpenAI's
// bpe_simple_vocab_16e6.txt.gz. New builds a tokenizer from any vocabulary
// and merge list, for example one learned from our own captions.
//
// EncodeWithSpans also tells which bytes of the prompt each token came from,
// for prompt weighting ("(red:1.2)") and long-prompt chunking.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The special tokens of CLIP's vocabulary. A prompt may contain them
// literally, in any case; they then encode to their own ids.
const (
	StartOfText = "<|startoftext|>"
	EndOfText   = "<|endoftext|>"
)

// ContextLength is the number of token ids CLIP's text encoder reads: the
// start token, at most 75 content tokens, the end token, then padding.
const ContextLength = 77

// Tokenizer is CLIP's byte-level BPE tokenizer over one vocabulary.
type Tokenizer struct {
	bos, eos int

	// The vocabulary: id -> piece, piece -> id.
	pieces []string
	ids    map[string]int
	// Decoding: the bytes each id stands for, and whether it ends a word.
	bytes   [][]byte
	wordEnd []bool

	// BPE works on symbols, numbered from 0: every string a merge can
	// produce, whether or not the vocabulary lists it (a learned vocabulary
	// may be pruned).
	symTok []int // symbol -> vocabulary id (EOS, as unk, when absent)
	symLen []int // symbol -> how many bytes of the word it covers
	merges map[uint64]merge
	// byteSym[b] and byteEndSym[b] are the symbols of byte b inside a word
	// and at its end ("a" and "a</w>").
	byteSym, byteEndSym [256]int32

	cache wordCache
}

// New builds a tokenizer from a vocabulary (piece -> id) and a merge list in
// rank order (merges[0] is applied first). Pieces are written in CLIP's byte
// alphabet, where each byte is one printable character (a space is 'Ġ', a
// newline 'Ċ', 'é' the two characters "Ã©"), and a word's last piece ends
// in "</w>" ("cat</w>"). The vocabulary must hold StartOfText and
// EndOfText. A piece that BPE produces but the vocabulary lacks encodes as
// EndOfText's id, which transformers uses as the unknown token.
func New(vocab map[string]int, merges [][2]string) (*Tokenizer, error) {
	bos, ok1 := vocab[StartOfText]
	eos, ok2 := vocab[EndOfText]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("tokenizer: vocabulary lacks %s or %s", StartOfText, EndOfText)
	}
	n := 0
	for piece, id := range vocab {
		if id < 0 || id > 1<<24 {
			return nil, fmt.Errorf("tokenizer: vocabulary id %d of %q out of range", id, piece)
		}
		n = max(n, id+1)
	}
	t := &Tokenizer{
		bos:     bos,
		eos:     eos,
		pieces:  make([]string, n),
		ids:     make(map[string]int, len(vocab)),
		bytes:   make([][]byte, n),
		wordEnd: make([]bool, n),
		merges:  make(map[uint64]merge, len(merges)),
	}
	for piece, id := range vocab {
		t.ids[piece] = id
		t.pieces[id] = piece
		if piece == StartOfText || piece == EndOfText {
			t.bytes[id] = []byte(piece)
			continue
		}
		t.bytes[id], t.wordEnd[id] = pieceBytes(piece)
	}

	symIndex := make(map[string]int32, len(vocab))
	sym := func(s string) int32 {
		if i, ok := symIndex[s]; ok {
			return i
		}
		i := int32(len(t.symTok))
		symIndex[s] = i
		id, ok := vocab[s]
		if !ok {
			id = eos
		}
		t.symTok = append(t.symTok, id)
		t.symLen = append(t.symLen, utf8.RuneCountInString(strings.TrimSuffix(s, endOfWord)))
		return i
	}
	for b := range 256 {
		t.byteSym[b] = sym(string(byteRunes[b]))
		t.byteEndSym[b] = sym(string(byteRunes[b]) + endOfWord)
	}
	for rank, m := range merges {
		if m[0] == "" || m[1] == "" {
			return nil, fmt.Errorf("tokenizer: merge %d (%q %q) has an empty side", rank, m[0], m[1])
		}
		a, b := sym(m[0]), sym(m[1])
		// As in transformers, a pair listed twice keeps its last rank.
		t.merges[pairKey(a, b)] = merge{rank: int32(rank), result: sym(m[0] + m[1])}
	}
	return t, nil
}

// pieceBytes returns the bytes a vocabulary piece stands for and whether it
// ends a word.
func pieceBytes(piece string) ([]byte, bool) {
	s, end := strings.CutSuffix(piece, endOfWord)
	var b []byte
	for _, r := range s {
		if c, ok := runeBytes[r]; ok {
			b = append(b, c)
		} else {
			b = utf8.AppendRune(b, r) // not a byte character: keep it as text
		}
	}
	return b, end
}

// BOS returns the id of the start token (49406 in CLIP's vocabulary).
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the id of the end token (49407 in CLIP's vocabulary), which is
// also the unknown token and SD 1.x's padding.
func (t *Tokenizer) EOS() int { return t.eos }

// VocabSize returns one more than the largest id of the vocabulary.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Piece returns the vocabulary piece of id ("cat</w>"), or "" if id is not in
// the vocabulary.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// ID returns the id of a vocabulary piece and whether it exists.
func (t *Tokenizer) ID(piece string) (int, bool) {
	id, ok := t.ids[piece]
	return id, ok
}

// Token is one token of an encoded prompt.
type Token struct {
	ID    int    // vocabulary id
	Piece string // vocabulary piece, "cat</w>"
	// Start and End are the byte offsets of the part of the original prompt
	// the token came from: prompt[Start:End]. Where normalisation merged or
	// rewrote characters (an HTML entity, a ligature, mojibake), the span
	// covers all the input characters involved; tokens that split one
	// character's bytes share that character's span; a lower-cased or
	// NFC-composed character maps to the characters it came from.
	Start, End int
}

// Encode returns the token ids of text without the start and end tokens and
// without truncation (transformers' add_special_tokens=False).
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	t.encode(text, func(sym int32, _ span) {
		ids = append(ids, t.symTok[sym])
	}, func(id int, _ span) {
		ids = append(ids, id)
	})
	return ids
}

// EncodeWithSpans is Encode that also tells, for every token, which bytes of
// text it came from, so prompt weighting ("(red:1.2)") and long-prompt
// chunking can work on tokens.
func (t *Tokenizer) EncodeWithSpans(text string) []Token {
	var toks []Token
	t.encode(text, func(sym int32, s span) {
		id := t.symTok[sym]
		toks = append(toks, Token{ID: id, Piece: t.pieces[id], Start: int(s.start), End: int(s.end)})
	}, func(id int, s span) {
		toks = append(toks, Token{ID: id, Piece: t.pieces[id], Start: int(s.start), End: int(s.end)})
	})
	return toks
}

// Pieces returns the vocabulary pieces of text, one per id of Encode(text).
func (t *Tokenizer) Pieces(text string) []string {
	var ps []string
	t.encode(text, func(sym int32, _ span) {
		ps = append(ps, t.pieces[t.symTok[sym]])
	}, func(id int, _ span) {
		ps = append(ps, t.pieces[id])
	})
	return ps
}

// encode normalises and splits text and hands every BPE symbol (or special
// token id) with its span in text to emit.
//
// As in transformers, special tokens written exactly ("<|endoftext|>") are
// cut out of the text first and the parts between them are normalised on
// their own; other spellings ("<|ENDOFTEXT|>") are found by the split
// pattern after lower-casing.
func (t *Tokenizer) encode(text string, emitSym func(int32, span), emitSpecial func(int, span)) {
	var word []byte
	var runeEnd []int // byte end of each rune of the word, relative to the word
	for off := 0; off <= len(text); {
		part, special := text[off:], ""
		for i := 0; i < len(part); i++ {
			if part[i] == '<' {
				if s := specialAt(part[i:]); s != "" {
					part, special = part[:i], s
					break
				}
			}
		}
		clean := normalize(part)
		for i := range clean.at {
			clean.at[i].start += int32(off)
			clean.at[i].end += int32(off)
		}
		off += len(part)
		for _, w := range split(clean.r) {
			if w.special != "" {
				emitSpecial(t.ids[w.special], clean.spanOf(w.start, w.end))
				continue
			}
			word, runeEnd = word[:0], runeEnd[:0]
			for _, r := range clean.r[w.start:w.end] {
				word = utf8.AppendRune(word, r)
				runeEnd = append(runeEnd, len(word))
			}
			// Map each symbol's bytes [b0, b1) back to the runes holding them.
			b0, ri := 0, 0
			runeAt := func(b int) int { // the rune holding byte b, ri onwards
				for ri < len(runeEnd)-1 && runeEnd[ri] <= b {
					ri++
				}
				return ri
			}
			for _, sym := range t.bpe(word) {
				b1 := min(b0+t.symLen[sym], len(word))
				first := runeAt(b0)
				last := runeAt(max(b1-1, b0))
				b0 = b1
				emitSym(sym, clean.spanOf(w.start+first, w.start+last+1))
			}
		}
		if special == "" {
			break
		}
		emitSpecial(t.ids[special], span{int32(off), int32(off + len(special))})
		off += len(special)
	}
}

// specialAt returns the special token s starts with, or "".
func specialAt(s string) string {
	for _, sp := range specials {
		if strings.HasPrefix(s, sp) {
			return sp
		}
	}
	return ""
}
