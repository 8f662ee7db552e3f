package bind

import (
	"strings"
	"testing"
)

// ParseGroups takes any prompt: every group has a noun, one offset per
// word, and each offset points at its word in the prompt.
func FuzzParseGroups(f *testing.F) {
	for _, s := range []string{"a red circle above a blue square", "a (red:1.2) car, a purple bench", "", "1.2.3 ...", "ÄÖ über-cool 'cat' and"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prompt string) {
		for _, g := range ParseGroups(prompt) {
			words := append(append([]string(nil), g.Modifiers...), g.Noun)
			if g.Noun == "" || len(g.Starts) != len(words) {
				t.Fatalf("%q: group %+v", prompt, g)
			}
			for k, w := range words {
				if s := g.Starts[k]; s < 0 || s+len(w) > len(prompt) || !strings.EqualFold(prompt[s:s+len(w)], w) {
					t.Fatalf("%q: word %q at %d", prompt, w, s)
				}
			}
		}
	})
}
