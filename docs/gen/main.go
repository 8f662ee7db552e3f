// Command gen draws the figures of sdgo's walkthrough (docs/walkthrough.md)
// from the program itself: the noise schedule, the latent after each step,
// per-word cross-attention maps, a guidance-scale sweep, a sampler
// comparison, the first held-out captions `sdgo eval` scores with the
// images it makes for them, and what the autoencoder gives back of
// held-out pairs.
//
// The figures in docs/img are made with sd-mini, the model built into sdgo:
//
//	go run ./docs/gen -model sd-mini -out docs/img -cfg 2 -note "sd-mini (the built-in model), seed 42, guidance 2"
//
// -model sd-mini names the built-in model (extracted by sdmini.Path); any
// other value is a model the sdgo command loads (a diffusers folder or a
// single file; pass -tokenizer for single files). Without -model only the figures
// that need no model are drawn. With -stages DIR the step figure is drawn
// from the stages a `sdgo --dump-stages DIR` run wrote, instead of a new
// generation.
//
// Every figure is a function of this package listed in figures; the tests
// run each on the tiny random reference model, so a broken generator fails
// `go test ./docs/gen`.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// builtin is the -model value that names the model built into sdgo.
const builtin = "sd-mini"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run parses the flags and writes the figures.
func run(args []string, stderr io.Writer) error {
	s := defaultSetup()
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model: \""+builtin+"\" (the built-in model), a diffusers folder or a single-file checkpoint (figures needing none are drawn without it)")
	tok := fs.String("tokenizer", "", "tokenizer folder for single-file checkpoints")
	out := fs.String("out", filepath.Join("docs", "img"), "folder the PNGs are written to")
	stages := fs.String("stages", "", "draw the step figure from this `sdgo --dump-stages` folder")
	only := fs.String("only", "", "comma-separated figure names to draw (default: all)")
	fs.StringVar(&s.Prompt, "prompt", s.Prompt, "the prompt")
	fs.StringVar(&s.Negative, "negative", s.Negative, "the negative prompt")
	fs.Uint64Var(&s.Seed, "seed", s.Seed, "seed")
	fs.IntVar(&s.Steps, "steps", s.Steps, "sampling steps")
	fs.IntVar(&s.Size, "size", s.Size, "image side in pixels (0: the model's native size)")
	fs.StringVar(&s.Sampler, "sampler", s.Sampler, "sampler")
	fs.Float64Var(&s.CFG, "cfg", s.CFG, "guidance scale")
	fs.StringVar(&s.Note, "note", s.Note, "a line printed under every figure made with the model (say which model it is)")
	fs.IntVar(&s.Side, "side", s.Side, "side of each picture in the grids, pixels")
	fs.StringVar(&s.LoraFile, "lora-file", s.LoraFile, "the trained LoRA of the lora-trained figure")
	fs.StringVar(&s.LoraPrompt, "lora-prompt", s.LoraPrompt, "the lora-trained figure's prompt")
	scales := fs.String("scales", joinFloats(s.Scales), "guidance scales of the sweep")
	samplers := fs.String("samplers", strings.Join(s.Samplers, ","), "samplers of the comparison")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if s.Scales, err = parseFloats(*scales); err != nil {
		return fmt.Errorf("-scales: %w", err)
	}
	s.Samplers = strings.Split(*samplers, ",")
	if s.Side < 8 {
		return fmt.Errorf("-side must be at least 8, got %d", s.Side)
	}
	g := &gen{s: s, stages: *stages}
	if *model == builtin {
		if *model, err = sdmini.Path(); err != nil {
			return fmt.Errorf("-model %s: %w", builtin, err)
		}
	}
	if *model != "" {
		g.dir = *model
		if g.model, err = pipeline.Load(*model, pipeline.LoadOptions{Tokenizer: *tok}); err != nil {
			return err
		}
	}
	names, err := selectFigures(*only)
	if err != nil {
		return err
	}
	return g.write(*out, names, stderr)
}

// selectFigures returns the figures named in a comma-separated list, or all.
func selectFigures(list string) ([]figure, error) {
	if list == "" {
		return figures, nil
	}
	var out []figure
	for _, name := range strings.Split(list, ",") {
		found := false
		for _, f := range figures {
			if f.Name == name {
				out, found = append(out, f), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-only: no figure %q", name)
		}
	}
	return out, nil
}

// write draws figs into dir as <name>.png. Figures that need a model are
// skipped (with a note) when there is none.
func (g *gen) write(dir string, figs []figure, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, f := range figs {
		if f.NeedsModel && g.model == nil && !(f.Name == "steps" && g.stages != "") {
			fmt.Fprintf(log, "%s: skipped (needs -model)\n", f.Name)
			continue
		}
		img, err := f.Make(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			continue
		}
		if f.NeedsModel && g.s.Note != "" {
			img = withNote(img, g.s.Note)
		}
		path := filepath.Join(dir, f.Name+".png")
		if err := writePNG(path, img); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(log, "%s\n", path)
	}
	return errors.Join(errs...)
}

// writePNG encodes img as PNG at best compression.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes(), true)
}

// joinFloats prints v as a comma-separated list.
func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

// parseFloats reads a comma-separated list of numbers.
func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
