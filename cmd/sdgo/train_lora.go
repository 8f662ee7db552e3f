package main

import (
	"fmt"
	"io"
	"math"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/sdmini"
)

const trainLoRAUsage = `Usage: sdgo train lora --concept "a green circle" --out FILE.safetensors [flags]

Fine-tunes a LoRA of sd-mini's U-Net (every linear layer of its spatial
transformers) on training scenes of one concept: one object of the
concept's colour and kind (and size and place, if it names them: "a large
green circle"). --prior mixes ordinary scenes into every batch (prior
preservation), so other prompts keep their images. The model stays frozen;
the file, in kohya-ss's format, is applied with sdgo --lora FILE:W or
<lora:NAME:W>.

Flags:
`

// runTrainLoRA runs `sdgo train lora`.
func runTrainLoRA(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train lora", stderr)
	var o sdmini.LoRAOptions
	fs.StringVar(&o.Model, "model", "", "sd-mini model folder (default: the built-in model)")
	fs.StringVar(&o.Out, "out", "", "LoRA file to write (.safetensors)")
	fs.StringVar(&o.Concept, "concept", "", `the scenes to learn, one object: "a green circle"`)
	fs.IntVar(&o.Rank, "rank", 4, "LoRA rank")
	fs.IntVar(&o.Steps, "steps", 300, "optimizer steps")
	fs.IntVar(&o.Batch, "batch", 8, "samples per step")
	fs.Float64Var(&o.LR, "lr", 1e-3, "peak learning rate")
	fs.IntVar(&o.Scenes, "scenes", 64, "concept scenes encoded up front")
	fs.Float64Var(&o.Prior, "prior", 0, "share of each batch from ordinary training scenes (prior preservation), in [0, 1)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	threads := fs.IntP("threads", "t", 0, "threads to use (default: all CPUs)")
	if err := parse(fs, trainLoRAUsage, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("train lora: unexpected argument %q", fs.Arg(0))
	case o.Out == "":
		return usagef("train lora: --out FILE is required")
	case o.Concept == "":
		return usagef("train lora: --concept is required")
	case o.Rank < 1 || o.Steps < 1 || o.Batch < 1 || o.Scenes < 1 || o.LR <= 0:
		return usagef("train lora: --rank, --steps, --batch, --scenes and --lr must be positive")
	case math.IsNaN(o.LR) || o.LR > 1:
		return usagef("train lora: --lr must be a number in (0, 1], got %g: larger rates diverge at once", o.LR)
	case !(o.Prior >= 0 && o.Prior < 1):
		return usagef("train lora: --prior must be in [0, 1), got %g", o.Prior)
	case *threads < 0:
		return usagef("--threads must not be negative, got %d", *threads)
	}
	if *threads > 0 {
		nn.SetThreads(*threads)
	}
	if o.Model == "" {
		path, err := sdmini.Path()
		if err != nil {
			return fmt.Errorf("train lora: %w", err)
		}
		o.Model = path
	}
	o.Log = stderr
	return sdmini.TrainLoRA(o)
}
