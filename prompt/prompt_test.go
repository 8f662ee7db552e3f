package prompt

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	// The examples of the web UI's own docstring (modules/prompt_parser.py).
	for _, tc := range []struct {
		in   string
		want []Segment
	}{
		{"normal text", []Segment{{"normal text", 1, false}}},
		{"an (important) word", []Segment{{"an ", 1, false}, {"important", 1.1, false}, {" word", 1, false}}},
		{"(unbalanced", []Segment{{"unbalanced", 1.1, false}}},
		{`\(literal\]`, []Segment{{"(literal]", 1, false}}},
		{"(unnecessary)(parens)", []Segment{{"unnecessaryparens", 1.1, false}}},
		{"a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", []Segment{
			{"a ", 1, false}, {"house", 1.3 * 1.1 * 1.1, false}, {" ", 1.1, false}, {"on", 1, false},
			{" a ", 1.1, false}, {"hill", 0.55, false}, {", sun, ", 1.1, false},
			{"sky", 1.1 * 1.1 * 1.1 * 1.1, false}, {".", 1.1, false}}},
		{"[abc]", []Segment{{"abc", 1 / 1.1, false}}},
		{"(cat : 1.5 )", []Segment{{"cat ", 1.5, false}}},
		{"a BREAK b", []Segment{{"a", 1, false}, {"", -1, true}, {"b", 1, false}}},
		{"", []Segment{{"", 1, false}}},
		{"ratio 1:2)", []Segment{{"ratio 1:2)", 1, false}}},
	} {
		got := Parse(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if g.Text != w.Text || g.Break != w.Break || math.Abs(g.Weight-w.Weight) > 1e-12 {
				t.Errorf("Parse(%q)[%d] = %+v, want %+v", tc.in, i, g, w)
			}
		}
	}
}

// words is a toy vocabulary: one id per space-separated word, "," is 267.
func words(text string) []int {
	var ids []int
	for _, w := range strings.Fields(strings.ReplaceAll(text, ",", " , ")) {
		if w == "," {
			ids = append(ids, 267)
		} else {
			ids = append(ids, 1000+len(w))
		}
	}
	return ids
}

var toy = Vocab{Encode: words, BOS: 49406, EOS: 49407, Pad: 49407, Comma: 267}

func TestChunks(t *testing.T) {
	// A short unweighted prompt is exactly the plain padded encoding.
	c := Chunks(Parse("a cat"), toy)
	if len(c) != 1 || len(c[0].IDs) != 77 {
		t.Fatalf("chunks %v", c)
	}
	want := append([]int{49406, 1001, 1003, 49407}, make([]int, 73)...)
	for i := 4; i < 77; i++ {
		want[i] = 49407
	}
	if !reflect.DeepEqual(c[0].IDs, want) || Weighted(c) {
		t.Fatalf("ids %v", c[0].IDs)
	}
	// SD 2.x pads with 0 after the first EOS.
	v2 := toy
	v2.Pad = 0
	if c := Chunks(Parse("a cat"), v2); c[0].IDs[3] != 49407 || c[0].IDs[4] != 0 || c[0].IDs[76] != 0 {
		t.Fatalf("sd2 padding %v", c[0].IDs)
	}
	// 80 words without commas: 75 in the first chunk, 5 in the second.
	long := strings.Repeat("word ", 80)
	if c := Chunks(Parse(long), toy); len(c) != 2 || c[1].IDs[5] != 1004 || c[1].IDs[6] != 49407 {
		t.Fatalf("long prompt: %d chunks, second %v", len(c), c[1].IDs[:8])
	}
	// A comma 10 tokens before the end: the tail after it moves to chunk 2.
	p := strings.Repeat("w ", 65) + ", " + strings.Repeat("x ", 15)
	c = Chunks(Parse(p), toy)
	if len(c) != 2 || c[0].IDs[66] != 267 || c[0].IDs[67] != 49407 || c[1].IDs[1] != 1001 {
		t.Fatalf("comma backtrack: %v / %v", c[0].IDs[60:70], c[1].IDs[:5])
	}
	// BREAK starts a new chunk; weights follow their tokens.
	c = Chunks(Parse("(a:1.5) BREAK b"), toy)
	if len(c) != 2 || c[0].Weights[1] != 1.5 || c[0].Weights[2] != 1 || c[1].IDs[1] != 1001 || !Weighted(c) {
		t.Fatalf("break: %+v", c)
	}
	// An empty prompt is one chunk of BOS, EOS and padding.
	if c := Chunks(Parse(""), toy); len(c) != 1 || c[0].IDs[1] != 49407 {
		t.Fatalf("empty: %v", c)
	}
}

func TestEmphasize(t *testing.T) {
	z := []float32{1, 2, 3, 4, 5, 6} // 3 tokens of dim 2
	Emphasize(z, 2, []float32{1, 2, 1})
	// weighted: 1 2 6 8 5 6 (sum 28); rescaled by 21/28.
	want := []float32{0.75, 1.5, 4.5, 6, 3.75, 4.5}
	for i := range z {
		if math.Abs(float64(z[i]-want[i])) > 1e-6 {
			t.Fatalf("z = %v, want %v", z, want)
		}
	}
	// Weight 1 everywhere changes nothing.
	z = []float32{0.3, -1, 2}
	Emphasize(z, 1, []float32{1, 1, 1})
	if z[0] != 0.3 || z[1] != -1 || z[2] != 2 {
		t.Fatalf("identity weights changed z: %v", z)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a (b:1.2) [c] BREAK d", `\(x\)`, "((((", "]]])):", "(a:-.)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs := Parse(s)
		if len(segs) == 0 {
			t.Fatal("no segments")
		}
		for _, c := range Chunks(segs, toy) {
			if len(c.IDs) != 77 || len(c.Weights) != 77 {
				t.Fatalf("chunk of %d ids", len(c.IDs))
			}
		}
	})
}
