package tokenizer

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The files of the two forms of CLIP's vocabulary.
const (
	VocabFile  = "vocab.json"                   // Hugging Face: piece -> id
	MergesFile = "merges.txt"                   // Hugging Face: the merge list
	OpenAIFile = "bpe_simple_vocab_16e6.txt.gz" // OpenAI: the merge list, vocabulary implied
)

// ErrNoVocab is wrapped by Load's error when dir holds no vocabulary.
var ErrNoVocab = errors.New("no CLIP vocabulary found")

// openAIMerges is how many lines of OpenAI's file are merges: the
// vocabulary has 49,152 entries, 2×256 byte pieces, the merges and the two
// special tokens (the file lists more merges; CLIP uses only these).
const openAIMerges = 49152 - 256 - 2

// Load reads CLIP's vocabulary from dir, which may hold vocab.json and
// merges.txt (a diffusers model's tokenizer/ folder), or
// bpe_simple_vocab_16e6.txt.gz (OpenAI's file), or be a diffusers model root
// whose tokenizer/ subfolder holds them. dir may also name the .gz file.
func Load(dir string) (*Tokenizer, error) {
	if strings.HasSuffix(dir, ".gz") {
		return loadOpenAI(dir)
	}
	for _, d := range []string{dir, filepath.Join(dir, "tokenizer")} {
		if exists(filepath.Join(d, VocabFile)) && exists(filepath.Join(d, MergesFile)) {
			return loadHF(d)
		}
		if p := filepath.Join(d, OpenAIFile); exists(p) {
			return loadOpenAI(p)
		}
	}
	return nil, fmt.Errorf("tokenizer: %s: %w: put %s and %s (the tokenizer/ folder of a diffusers "+
		"model, e.g. openai/clip-vit-large-patch14) or OpenAI's %s in %s or in its tokenizer/ subfolder",
		dir, ErrNoVocab, VocabFile, MergesFile, OpenAIFile, dir)
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// loadHF reads vocab.json and merges.txt from dir.
func loadHF(dir string) (*Tokenizer, error) {
	p := filepath.Join(dir, VocabFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
	}
	p = filepath.Join(dir, MergesFile)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	merges, err := readMerges(f, -1)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
	}
	t, err := New(vocab, merges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", dir, err)
	}
	return t, nil
}

// loadOpenAI reads OpenAI's gzipped merge list and builds the vocabulary
// from it as clip/simple_tokenizer.py does: the 256 byte characters, the same
// with "</w>", each merge's result in rank order, then the special tokens.
func loadOpenAI(p string) (*Tokenizer, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
	}
	merges, err := readMerges(zr, openAIMerges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
	}
	vocab := make(map[string]int, 512+len(merges)+2)
	for i, b := range byteOrder {
		vocab[string(byteRunes[b])] = i
		vocab[string(byteRunes[b])+endOfWord] = 256 + i
	}
	for i, m := range merges {
		vocab[m[0]+m[1]] = 512 + i
	}
	vocab[StartOfText] = 512 + len(merges)
	vocab[EndOfText] = 513 + len(merges)
	t, err := New(vocab, merges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
	}
	return t, nil
}

// readMerges reads a merge list: a "#version" line, then one "a b" pair per
// line, at most limit pairs (all if limit < 0).
func readMerges(r io.Reader, limit int) ([][2]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var merges [][2]string
	for line := 1; sc.Scan(); line++ {
		if line == 1 && strings.Contains(sc.Text(), "#") { // "#version: 0.2"
			continue
		}
		if limit >= 0 && len(merges) == limit {
			break
		}
		a, b, ok := strings.Cut(strings.TrimRight(sc.Text(), "\r"), " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			if strings.TrimSpace(sc.Text()) == "" {
				continue // blank line, as at the end of the file
			}
			return nil, fmt.Errorf("line %d: want two pieces separated by a space, got %q", line, sc.Text())
		}
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return merges, nil
}
