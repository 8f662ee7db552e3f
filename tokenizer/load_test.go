package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

func TestLoadLayouts(t *testing.T) {
	ref := testdata.Dir(t, "tokenizer")
	link := func(dir, name string) {
		if err := os.Symlink(filepath.Join(ref, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	hfRoot := t.TempDir() // a diffusers model root: tokenizer/vocab.json, tokenizer/merges.txt
	os.Mkdir(filepath.Join(hfRoot, "tokenizer"), 0o755)
	link(filepath.Join(hfRoot, "tokenizer"), VocabFile)
	link(filepath.Join(hfRoot, "tokenizer"), MergesFile)
	oaDir := t.TempDir() // a folder holding OpenAI's file
	link(oaDir, OpenAIFile)
	for _, dir := range []string{hfRoot, filepath.Join(hfRoot, "tokenizer"), oaDir, filepath.Join(oaDir, OpenAIFile)} {
		tok, err := Load(dir)
		if err != nil {
			t.Errorf("Load(%s): %v", dir, err)
			continue
		}
		if got := tok.EncodePadded("a photo of a cat", 9, PadSD1); !slices.Equal(got, []int{49406, 320, 1125, 539, 320, 2368, 49407, 49407, 49407}) {
			t.Errorf("Load(%s): a photo of a cat -> %v", dir, got)
		}
	}
	empty := t.TempDir()
	_, err := Load(empty)
	if !errors.Is(err, ErrNoVocab) || !strings.Contains(err.Error(), VocabFile) || !strings.Contains(err.Error(), OpenAIFile) {
		t.Errorf("Load(empty dir) error = %v, want one naming the files", err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		vocab  map[string]int
		merges [][2]string
	}{
		{"no specials", map[string]int{"a": 0}, nil},
		{"negative id", map[string]int{StartOfText: 0, EndOfText: 1, "a": -3}, nil},
		{"empty merge", map[string]int{StartOfText: 0, EndOfText: 1}, [][2]string{{"a", ""}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.vocab, tt.merges); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	// A vocabulary without byte pieces encodes unknown pieces as EndOfText.
	tok, err := New(map[string]int{StartOfText: 0, EndOfText: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("hi"); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("Encode with an empty vocabulary = %v, want [1 1]", got)
	}
}

func TestLoadErrors(t *testing.T) {
	write := func(dir, name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name          string
		vocab, merges string
		want          string // in the error
	}{
		{"bad json", `{"a": `, "#version: 0.2\n", VocabFile},
		{"bad merge", `{"<|startoftext|>": 0, "<|endoftext|>": 1}`, "#version: 0.2\na b c\n", MergesFile},
		{"no specials", `{"a": 0}`, "#version: 0.2\n", "lacks"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		write(dir, VocabFile, tt.vocab)
		write(dir, MergesFile, tt.merges)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Load error = %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
	dir := t.TempDir()
	write(dir, OpenAIFile, "not gzip")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), OpenAIFile) {
		t.Errorf("Load of a broken .gz: error = %v", err)
	}
}
