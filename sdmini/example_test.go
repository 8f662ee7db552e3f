package sdmini_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/tokenizer"
)

// Learn a vocabulary from a few captions: every word becomes one token, and
// the special tokens come last.
func ExampleLearnBPE() {
	v, err := sdmini.LearnBPE([]string{
		"a red circle on the left",
		"a small red square, blue background",
		"two red circles",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := v.Tokenizer()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(v.Merges), "merges,", len(v.IDs), "tokens")
	fmt.Println(tok.Pieces("a red square on the left"))
	fmt.Println(tok.EncodePadded("red circles", 6, tokenizer.PadSD1))
	// Output:
	// 38 merges, 228 tokens
	// [a</w> red</w> square</w> on</w> the</w> left</w>]
	// [226 189 212 227 227 227]
}

// The text encoder in grad operations: a training step's forward pass,
// pooled at the end token as CLIP does.
func ExampleNewText() {
	cfg := sdmini.TextConfig(300)
	ps := grad.NewParams()
	m, err := sdmini.NewText(ps, rand.New(rand.NewPCG(1, 2)), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := [][]int{{cfg.BOS, 17, 42, cfg.EOS}, {cfg.BOS, 5, cfg.EOS, cfg.EOS}}
	tp := grad.NewTape()
	hidden := m.Forward(tp, ids) // (2, 4, 128)
	pooled := sdmini.Pool(tp, ids, hidden)
	fmt.Println(ps.Count(), "parameters; hidden", hidden.Shape(), "pooled", pooled.Shape())
	fmt.Println(cfg.Activation == clip.QuickGELU)
	// Output:
	// 841600 parameters; hidden [2 4 128] pooled [2 128]
	// true
}
