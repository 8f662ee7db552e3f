package tokenizer_test

import (
	"fmt"

	"github.com/sdgo/sdgo/tokenizer"
)

// tiny builds a toy tokenizer: a hand-made vocabulary of a few pieces and
// the merges that build them, in rank order. (CLIP's own vocabulary comes
// from tokenizer.Load; see the package documentation.)
func tiny() *tokenizer.Tokenizer {
	vocab := map[string]int{
		tokenizer.StartOfText: 0, tokenizer.EndOfText: 1,
		"l": 2, "o": 3, "w": 4, "e": 5, "r": 6, "w</w>": 7, "r</w>": 8,
		"lo": 9, "low</w>": 10, "low": 11, "er</w>": 12,
	}
	merges := [][2]string{{"l", "o"}, {"lo", "w</w>"}, {"lo", "w"}, {"e", "r</w>"}}
	tok, err := tokenizer.New(vocab, merges)
	if err != nil {
		panic(err)
	}
	return tok
}

func ExampleNew() {
	tok := tiny()
	ids := tok.Encode("Low LOWER")
	fmt.Println(ids)
	fmt.Println(tok.Pieces("Low LOWER"))
	fmt.Println(tok.EncodePadded("Low LOWER", 6, tokenizer.PadSD1))
	fmt.Println(tok.EncodePadded("Low LOWER", 6, tokenizer.PadSD2))
	fmt.Printf("%q\n", tok.Decode(ids))
	// Output:
	// [10 11 12]
	// [low</w> low er</w>]
	// [0 10 11 12 1 1]
	// [0 10 11 12 1 0]
	// "low lower"
}

func ExampleTokenizer_EncodeWithSpans() {
	prompt := "LOW  lower"
	for _, t := range tiny().EncodeWithSpans(prompt) {
		fmt.Printf("%-8s %2d  %q\n", t.Piece, t.ID, prompt[t.Start:t.End])
	}
	// Output:
	// low</w>  10  "LOW"
	// low      11  "low"
	// er</w>   12  "er"
}

func ExampleNormalize() {
	fmt.Printf("%q\n", tokenizer.Normalize("  Caf&eacute; “ﬁne”\u3000ＡＲＴ, cafÃ© "))
	// Output:
	// "café \"fine\" art, café"
}
