package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// refRow is one row of the reference's expected.json (see its README.md).
type refRow struct {
	Prompt string `json:"prompt"`
	Raw    []int  `json:"raw"`
	SD1    []int  `json:"sd1"`
	SD2    []int  `json:"sd2"`
	Clean  string `json:"clean"`
}

func loadRows(tb testing.TB) []refRow {
	tb.Helper()
	p := testdata.Path(tb, "tokenizer/expected.json")
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	var rows []refRow
	if err := json.Unmarshal(data, &rows); err != nil {
		tb.Fatalf("%s: %v", p, err)
	}
	return rows
}

// refTokenizers loads the reference vocabulary in both forms, once.
var refTokenizers = sync.OnceValues(func() (map[string]*Tokenizer, error) {
	root, _ := testdata.Root()
	dir := filepath.Join(root, "tokenizer")
	hf, err := Load(dir)
	if err != nil {
		return nil, err
	}
	oa, err := Load(filepath.Join(dir, OpenAIFile))
	if err != nil {
		return nil, err
	}
	return map[string]*Tokenizer{"hf": hf, "openai": oa}, nil
})

func loadRef(tb testing.TB) map[string]*Tokenizer {
	tb.Helper()
	testdata.Path(tb, "tokenizer/"+VocabFile) // skips when absent
	testdata.Path(tb, "tokenizer/"+OpenAIFile)
	toks, err := refTokenizers()
	if err != nil {
		tb.Fatal(err)
	}
	return toks
}

// TestNormalizeReference checks the normaliser alone against the reference's
// clean text on every prompt.
func TestNormalizeReference(t *testing.T) {
	rows := loadRows(t)
	bad := 0
	for i, r := range rows {
		if got := Normalize(r.Prompt); got != r.Clean {
			bad++
			t.Errorf("row %d: Normalize(%+q)\n got  %+q\n want %+q", i, r.Prompt, got, r.Clean)
		}
	}
	t.Logf("%d of %d prompts normalise as the reference", len(rows)-bad, len(rows))
}

// TestBPEReference checks the split and the BPE alone: the reference's clean
// text must encode to its raw ids (the normaliser is idempotent on it).
func TestBPEReference(t *testing.T) {
	rows := loadRows(t)
	for name, tok := range loadRef(t) {
		bad := 0
		for i, r := range rows {
			if got := tok.Encode(r.Clean); !slices.Equal(got, r.Raw) {
				bad++
				t.Errorf("%s: row %d: Encode(clean %+q)\n got  %v\n want %v", name, i, r.Clean, got, r.Raw)
			}
		}
		t.Logf("%s: %d of %d clean texts encode as the reference", name, len(rows)-bad, len(rows))
	}
}

// TestEncodeReference checks the whole tokenizer: raw, SD 1.x and SD 2.x ids
// for every prompt, with both vocabulary forms.
func TestEncodeReference(t *testing.T) {
	rows := loadRows(t)
	for name, tok := range loadRef(t) {
		bad := 0
		for i, r := range rows {
			raw := tok.Encode(r.Prompt)
			sd1 := tok.EncodePadded(r.Prompt, ContextLength, PadSD1)
			sd2 := tok.EncodePadded(r.Prompt, ContextLength, PadSD2)
			if !slices.Equal(raw, r.Raw) || !slices.Equal(sd1, r.SD1) || !slices.Equal(sd2, r.SD2) {
				bad++
				t.Errorf("%s: row %d: %+q\n raw %v\n want %v\n sd1 %v\n want %v\n sd2 %v\n want %v",
					name, i, r.Prompt, raw, r.Raw, sd1, r.SD1, sd2, r.SD2)
			}
		}
		t.Logf("%s: %d of %d prompts give the reference raw, sd1 and sd2 ids", name, len(rows)-bad, len(rows))
	}
}

// TestVocabForms checks that the two forms of the vocabulary are the same.
func TestVocabForms(t *testing.T) {
	toks := loadRef(t)
	hf, oa := toks["hf"], toks["openai"]
	if hf.VocabSize() != 49408 || oa.VocabSize() != 49408 {
		t.Fatalf("vocabulary sizes %d (hf) and %d (openai), want 49408", hf.VocabSize(), oa.VocabSize())
	}
	for id := range hf.VocabSize() {
		if hf.Piece(id) != oa.Piece(id) {
			t.Fatalf("id %d: %q (hf) != %q (openai)", id, hf.Piece(id), oa.Piece(id))
		}
	}
	if hf.BOS() != 49406 || hf.EOS() != 49407 {
		t.Errorf("BOS, EOS = %d, %d, want 49406, 49407", hf.BOS(), hf.EOS())
	}
}
