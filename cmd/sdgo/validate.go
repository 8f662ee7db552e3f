package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sdgo/sdgo/pipeline"
)

// Upper bounds of the counts: the pipeline's own limit of steps, and a
// batch whose file names (and images, kept until the end) stay small.
const (
	maxSteps = 10000
	maxBatch = 10000
)

// checkNumbers checks the counts, the float flags and the prompts' (word:w) weights:
// no NaN, no ±Inf, each within its range (the error says why).
func (f *genFlags) checkNumbers() error {
	switch {
	case f.steps > maxSteps:
		return usagef("--steps must be at most %d, got %d", maxSteps, f.steps)
	case f.batch > maxBatch:
		return usagef("--batch-count must be at most %d, got %d: run sdgo again for more", maxBatch, f.batch)
	}
	if err := pipeline.CFGScaleRange.Check(f.cfg); err != nil {
		return usagef("--cfg-scale %v", err)
	}
	if err := pipeline.StrengthRange.Check(f.strength); err != nil {
		return usagef("--strength %v", err)
	}
	if err := pipeline.CheckPromptWeights(f.prompt); err != nil {
		return usagef("-p/--prompt: %v", err)
	}
	if err := pipeline.CheckPromptWeights(f.negative); err != nil {
		return usagef("-n/--negative-prompt: %v", err)
	}
	return nil
}

// sideOutputs checks that --preview and --dump-stages name none of the
// images' files (the preview would take the image's name, and the final
// write fail), and returns a function that removes, after a failed run,
// the preview and the stages folder if this run made them: a failure
// leaves no file behind.
func (f *genFlags) sideOutputs(outputs []string) (cleanup func(), err error) {
	same := func(a, b string) bool {
		if a == "" || b == "" {
			return false
		}
		aa, err1 := filepath.Abs(a)
		bb, err2 := filepath.Abs(b)
		return err1 == nil && err2 == nil && aa == bb
	}
	for _, o := range outputs {
		if same(f.preview, o) {
			return nil, usagef("--preview %s is also an output image: give it another name", f.preview)
		}
		if same(f.dumpStages, o) {
			return nil, usagef("--dump-stages %s is also an output image: give it another name", f.dumpStages)
		}
	}
	if same(f.preview, f.dumpStages) {
		return nil, usagef("--preview and --dump-stages name the same path %s", f.preview)
	}
	var remove []string
	for _, p := range []string{f.preview, f.dumpStages} {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			remove = append(remove, p)
		}
	}
	return func() {
		for _, p := range remove {
			os.RemoveAll(p)
		}
	}, nil
}
