package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/sdgo/sdgo/tokenizer"
)

const tokenizeUsage = `Usage: sdgo tokenize [--tokenizer DIR] [--pad sd1|sd2] [--pieces] TEXT

Prints the 77 CLIP token ids of TEXT as Stable Diffusion sees them (BOS, the
prompt's ids truncated to 75, EOS, padding) as a JSON array; with --pieces,
also the BPE pieces, one JSON array per line.

Flags:
`

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", stderr)
	dir := fs.String("tokenizer", "", "folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz (or its path); a diffusers model folder works too")
	pad := tokenizer.PadSD1
	fs.Var(&pad, "pad", "padding after the end token: sd1 (end token) or sd2 (0)")
	pieces := fs.Bool("pieces", false, "also print the BPE pieces")
	if err := parse(fs, tokenizeUsage, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("tokenize: no TEXT given")
	}
	if *dir == "" {
		return usagef("tokenize: --tokenizer DIR is required (a folder with vocab.json and merges.txt)")
	}
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		return fmt.Errorf("--tokenizer: %w", err)
	}
	text := strings.Join(fs.Args(), " ")
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // keep "</w>" readable
	if err := enc.Encode(tok.EncodePadded(text, tokenizer.ContextLength, pad)); err != nil {
		return err
	}
	if *pieces {
		return enc.Encode(tok.Pieces(text))
	}
	return nil
}
