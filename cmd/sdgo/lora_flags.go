package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sdgo/sdgo/pipeline"
)

// loraFlags are the adapter flags: stable-diffusion.cpp's --lora-model-dir
// and --embd-dir, and one-off --lora FILE[:W] files.
type loraFlags struct {
	dir, embdDir string
	files        []string
	skipUnknown  bool
}

// register adds the flags to fs.
func (f *loraFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "lora-model-dir", "", "folder of LoRA/LyCORIS files that the prompt names as <lora:NAME:W> (NAME.safetensors, .ckpt, .pt)")
	fs.StringVar(&f.embdDir, "embd-dir", "", "folder of textual-inversion embeddings; their file names are trigger words in the prompts")
	fs.StringArrayVar(&f.files, "lora", nil, "apply this LoRA file with multiplier W (default 1); repeatable")
	fs.BoolVar(&f.skipUnknown, "lora-skip-unknown", false, "skip, with a warning, LoRA names not found and modules the model does not have, instead of failing")
}

// validate checks the folders and files exist, naming the flag.
func (f *loraFlags) validate() error {
	for _, d := range []struct{ flag, path string }{{"--lora-model-dir", f.dir}, {"--embd-dir", f.embdDir}} {
		if d.path == "" {
			continue
		}
		if st, err := os.Stat(d.path); err != nil {
			return usagef("%s: %v", d.flag, err)
		} else if !st.IsDir() {
			return usagef("%s: %s is not a folder", d.flag, d.path)
		}
	}
	for _, s := range f.files {
		lf, err := parseLoraFlag(s)
		if err != nil {
			return err
		}
		if _, err := os.Stat(lf.Path); err != nil {
			return usagef("--lora: %v", err)
		}
	}
	return nil
}

// parseLoraFlag reads FILE[:W]; a colon followed by something that is no
// number belongs to the path.
func parseLoraFlag(s string) (pipeline.LoraFile, error) {
	lf := pipeline.LoraFile{Path: s, Multiplier: 1}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if w, err := strconv.ParseFloat(s[i+1:], 64); err == nil {
			lf.Path, lf.Multiplier = s[:i], w
		}
	}
	if lf.Path == "" {
		return lf, usagef("--lora %q: no file", s)
	}
	if err := pipeline.LoRAWeightRange.Check(lf.Multiplier); err != nil {
		return lf, usagef("--lora %q: the weight %v", s, err)
	}
	return lf, nil
}

// load sets the folders in the load options.
func (f *loraFlags) load(o *pipeline.LoadOptions) {
	o.LoraDir, o.EmbeddingDir = f.dir, f.embdDir
}

// apply sets the files and the skip rule in the generation options; warnings go to stderr.
func (f *loraFlags) apply(o *pipeline.Options, stderr io.Writer) error {
	for _, s := range f.files {
		lf, err := parseLoraFlag(s)
		if err != nil {
			return err
		}
		o.Loras = append(o.Loras, lf)
	}
	o.LoraSkipUnknown = f.skipUnknown
	o.Warn = func(msg string) { fmt.Fprintln(stderr, "warning:", msg) }
	return nil
}
