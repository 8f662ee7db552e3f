package shapes

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Every word of every caption Caption writes is in Words.
func TestWordsCoverCaptions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		c := Sample(r, Train).Caption(r)
		if u := UnknownWords(c); len(u) > 0 {
			t.Fatalf("caption %q: words %q not in Words()", c, u)
		}
	}
	for _, s := range AllSingle(Train) {
		if u := UnknownWords(s.String()); len(u) > 0 {
			t.Fatalf("spec %q: words %q not in Words()", s, u)
		}
	}
}

func TestUnknownWords(t *testing.T) {
	got := UnknownWords("a photograph of an astronaut riding a horse, a (Red:1.2) CIRCLE, horse")
	if want := []string{"photograph", "astronaut", "riding", "horse"}; !slices.Equal(got, want) {
		t.Fatalf("UnknownWords = %q, want %q", got, want)
	}
	if got := UnknownWords("a large red circle on the left on a white background"); len(got) != 0 {
		t.Fatalf("a caption has unknown words %q", got)
	}
}
