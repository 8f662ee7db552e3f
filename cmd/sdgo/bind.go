package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/sdgo/sdgo/bind"
	"github.com/sdgo/sdgo/pipeline"
)

// bindFlags are --bind and its settings, shared by generation and eval.
type bindFlags struct {
	on     bool
	scale  float64
	until  float64
	side   int
	groups []string
}

func (b *bindFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&b.on, "bind", false, "bind each word's attributes to its object (SynGen attention guidance; slower: about 2× per steered step)")
	fs.Float64Var(&b.scale, "bind-scale", 20, "--bind: step size of the latent update")
	fs.Float64Var(&b.until, "bind-until", 0.5, "--bind: share of the steps steered, from the first")
	fs.IntVar(&b.side, "bind-maps", 16, "--bind: read the cross-attention maps of the largest side up to this (16: SD 1.5's 16×16 at 512 px)")
	fs.StringArrayVar(&b.groups, "bind-group", nil, `--bind: a noun with its modifiers, e.g. "red circle" (repeat; default: parsed from the prompt)`)
}

// validate checks the settings (with or without --bind), naming the flag.
func (b *bindFlags) validate() error {
	switch {
	case !(b.scale > 0 && b.scale <= 1e4):
		return usagef("--bind-scale must be a positive number up to 10000, got %g: larger steps wreck the latents", b.scale)
	case !(b.until > 0 && b.until <= 1):
		return usagef("--bind-until must be in (0, 1], got %g: it is a share of the steps", b.until)
	case b.side < 1:
		return usagef("--bind-maps must be positive, got %d", b.side)
	}
	return nil
}

// binder returns the SynGen binder for the model folder dir, or nil
// without --bind.
func (b *bindFlags) binder(dir string) (pipeline.Binder, error) {
	if !b.on {
		return nil, nil
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(dir, "unet")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--bind: %s is not a diffusers folder with unet/ (single-file checkpoints are not supported by --bind yet)", dir)
	}
	return bind.Load(dir, bind.Options{Scale: b.scale, Until: b.until, MaxSide: b.side, Groups: b.groups})
}
