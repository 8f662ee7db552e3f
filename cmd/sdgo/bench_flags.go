package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/sdgo/sdgo/nn"
)

// benchFlags are the flags sdgo bench takes for every model (SD 1.5 in
// bench.go, SDXL in bench_sdxl.go), defined and checked in one place.
type benchFlags struct {
	json, quick, noChild *bool
	dir                  *string
	threads              *int
	child, tokenizer     *string // the child process's checkpoint and tokenizer (internal)
}

// addBenchFlags defines the common flags on fs; quick and noChild say what
// --quick and --no-txt2img skip.
func addBenchFlags(fs *pflag.FlagSet, quick, noChild string) *benchFlags {
	f := &benchFlags{
		json:      fs.Bool("json", false, "print one JSON object instead of a table"),
		quick:     fs.Bool("quick", false, quick),
		noChild:   fs.Bool("no-txt2img", false, noChild),
		dir:       fs.String("dir", "", "write the checkpoint and tokenizer to this folder and keep them; reuse them when present"),
		threads:   fs.IntP("threads", "t", 0, "threads to use (default: all CPUs)"),
		child:     fs.String("txt2img-child", "", "checkpoint for the child's txt2img (internal)"),
		tokenizer: fs.String("tokenizer", "", "tokenizer folder of the child (internal)"),
	}
	fs.MarkHidden("txt2img-child")
	fs.MarkHidden("tokenizer")
	return f
}

// check rejects stray arguments and a negative --threads, and applies
// --threads.
func (f *benchFlags) check(fs *pflag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("bench: unexpected argument %q", fs.Arg(0))
	}
	if *f.threads < 0 {
		return usagef("--threads must not be negative, got %d", *f.threads)
	}
	if *f.threads > 0 {
		nn.SetThreads(*f.threads)
	}
	return nil
}

// workDir returns the folder of the checkpoint: --dir, created if need be,
// or a new temporary folder that cleanup removes.
func (f *benchFlags) workDir() (dir string, cleanup func(), err error) {
	if *f.dir == "" {
		if dir, err = os.MkdirTemp("", "sdgo-bench-"); err != nil {
			return "", nil, fmt.Errorf("bench: %w", err)
		}
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	if err := os.MkdirAll(*f.dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("--dir: %w", err)
	}
	return *f.dir, func() {}, nil
}

// progress returns a printer of progress lines to stderr, silent with
// --json.
func (f *benchFlags) progress(stderr io.Writer) func(format string, a ...any) {
	return func(format string, a ...any) {
		if !*f.json {
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}
}

// report writes r to stdout as indented JSON with --json, else calls table.
func (f *benchFlags) report(stdout io.Writer, r any, table func() error) error {
	if *f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return table()
}
