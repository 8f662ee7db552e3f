// Command sdgo makes images from text with Stable Diffusion 1.x/2.x and
// SDXL, on the CPU, from one static binary.
//
// Usage:
//
//	sdgo -m MODEL -p PROMPT [flags]           make an image (txt2img; img2img with -i; inpainting with --mask)
//	sdgo tokenize [--tokenizer DIR] TEXT      print a prompt's CLIP token ids
//	sdgo bench [--json]                       measure this machine on SD 1.5-sized work
//	sdgo serve [-m MODEL] [--listen ADDR]     serve the model over HTTP (a page, A1111's and OpenAI's APIs)
//	sdgo worker --nats URL [-m MODEL]         run a shared JetStream queue's jobs
//	sdgo batch --embedded|--nats URL F --out D  run a file of txt2img requests, resumably
//
// Run `sdgo --help` or `sdgo COMMAND --help` for the flags.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

// command is one subcommand of sdgo.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"generate", "make images from a prompt (the default command)", runGenerate},
		{"tokenize", "print the CLIP token ids of a prompt as JSON", runTokenize},
		{"train", "train sd-mini, a small Stable Diffusion, from nothing (bpe, clip, vae, unet, all; eval)", runTrain},
		{"eval", "score a model on held-out sd-mini captions with the pixel scorer", runEval},
		{"bench", "measure this machine on SD 1.5-sized work (random weights, no download)", runBench},
		{"serve", "serve the model over HTTP: a page, AUTOMATIC1111's and OpenAI's APIs", runServe},
		{"batch", "run a file of txt2img requests (JSON lines) through the queue, resuming where it stopped", runBatch},
		{"worker", "run the jobs of a shared NATS JetStream queue (sdgo serve --nats) on this machine", runWorker},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes sdgo with args and returns the exit code: 0 on success, 2 for
// bad usage, 1 for any other error. Errors are one line naming what is wrong.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := commands()[0]
	if len(args) > 0 {
		for _, c := range commands() {
			if args[0] == c.name {
				cmd, args = c, args[1:]
				break
			}
		}
	}
	err := cmd.run(args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "sdgo: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "sdgo: %v\n", err)
		return 1
	}
}

// usageError is a bad flag or argument: exit code 2.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// newFlags returns a flag set that reports errors instead of exiting and
// prints nothing by itself: bad flags give one line, --help the usage.
func newFlags(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.Usage = func() {}
	return fs
}

// parse parses args; --help prints usage and the flags to stdout.
func parse(fs *pflag.FlagSet, usage string, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return err
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}
