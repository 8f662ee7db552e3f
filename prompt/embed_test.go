package prompt

import (
	"reflect"
	"strings"
	"testing"
)

// Textual-inversion triggers take their vectors' slots (id 0), the longest
// trigger wins, an embedding never straddles two chunks, and one moved by
// the comma backtrack moves with its slots.
func TestChunksTriggers(t *testing.T) {
	v := toy
	v.Triggers = []Trigger{
		{IDs: words("emb"), Vectors: 2},    // "emb" -> [1003]
		{IDs: words("emb xx"), Vectors: 3}, // longer: "emb xx" -> [1003 1002]
	}
	c := Chunks(Parse("a emb b emb xx c"), v)
	want := []int{49406, 1001, 0, 0, 1001, 0, 0, 0, 1001, 49407}
	if !reflect.DeepEqual(c[0].IDs[:10], want) {
		t.Fatalf("ids %v, want %v", c[0].IDs[:10], want)
	}
	if wantE := []Placed{{Trigger: 0, Pos: 2}, {Trigger: 1, Pos: 5}}; !reflect.DeepEqual(c[0].Embeds, wantE) {
		t.Fatalf("embeds %v, want %v", c[0].Embeds, wantE)
	}
	// 74 words then a 3-vector embedding: it does not fit, so it opens chunk 2.
	c = Chunks(Parse(strings.Repeat("w ", 74)+"emb xx"), v)
	if len(c) != 2 || len(c[0].Embeds) != 0 || !reflect.DeepEqual(c[1].Embeds, []Placed{{Trigger: 1, Pos: 1}}) || c[1].IDs[1] != 0 || c[1].IDs[4] != 49407 {
		t.Fatalf("straddle: %d chunks, %v / %v %v", len(c), c[0].Embeds, c[1].Embeds, c[1].IDs[:6])
	}
	// A comma 5 tokens before the end of chunk 1, an embedding after it:
	// the tail, embedding included, moves to chunk 2 at its new position.
	c = Chunks(Parse(strings.Repeat("w ", 70)+", emb "+strings.Repeat("x ", 10)), v)
	if len(c) != 2 || len(c[0].Embeds) != 0 || !reflect.DeepEqual(c[1].Embeds, []Placed{{Trigger: 0, Pos: 1}}) || c[1].IDs[1] != 0 || c[1].IDs[2] != 0 {
		t.Fatalf("backtrack: %v / %v %v", c[0].Embeds, c[1].Embeds, c[1].IDs[:6])
	}
	// Weights apply to the embedding's slots.
	c = Chunks(Parse("(emb:1.2)"), v)
	if c[0].Weights[1] != 1.2 || c[0].Weights[2] != 1.2 {
		t.Fatalf("weights %v", c[0].Weights[:4])
	}
}
