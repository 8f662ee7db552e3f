package sdmini

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/weights"
)

// textPrefix starts the names of the text encoder's parameters.
const textPrefix = "text_model."

// clipOriginal is where the unet stage keeps the clip stage's text encoder
// when Options.TextLR fine-tunes it: Dir/text_encoder then holds the
// fine-tuned one, and this file the starting point of every later run.
const clipOriginal = "checkpoints/text_encoder.clip.safetensors"

// newTunedText returns the text encoder the unet stage fine-tunes with the
// U-Net (Options.TextLR > 0): a Text of configuration cfg registered in ps
// under text_model.…, holding the clip stage's weights. Those are read
// from Dir/checkpoints/text_encoder.clip.safetensors, which is first made a
// copy of Dir/text_encoder's weights if it does not exist yet, so that a
// second run never starts from an encoder an earlier one fine-tuned (the
// clip stage removes the copy when it writes a new encoder). A resumed run
// then replaces these weights with its checkpoint's.
func newTunedText(ps *grad.Params, dir string, cfg clip.Config) (*Text, error) {
	orig := filepath.Join(dir, clipOriginal)
	if _, err := os.Stat(orig); errors.Is(err, os.ErrNotExist) {
		b, err := os.ReadFile(filepath.Join(dir, textWeights))
		if err != nil {
			return nil, fmt.Errorf("sdmini: --text-lr: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(orig), 0o755); err != nil {
			return nil, fmt.Errorf("sdmini: %w", err)
		}
		if err := atomicfile.Write(orig, b, false); err != nil {
			return nil, fmt.Errorf("sdmini: --text-lr: keeping the clip stage's text encoder: %w", err)
		}
	}
	// The initial values are overwritten: any random stream will do.
	m, err := NewText(ps, rand.New(rand.NewPCG(0, 0)), cfg)
	if err != nil {
		return nil, err
	}
	f, err := weights.Open(orig)
	if err != nil {
		return nil, fmt.Errorf("sdmini: --text-lr: %w", err)
	}
	defer f.Close()
	if err := textParams(ps, true).LoadFrom(f); err != nil {
		return nil, fmt.Errorf("sdmini: --text-lr: %s: %w", orig, err)
	}
	return m, nil
}

// checkFrozenResume refuses to resume, with a frozen text encoder, a unet
// checkpoint that fine-tuned it: its U-Net was trained against an encoder
// that Dir/text_encoder may not hold.
func checkFrozenResume(dir string) error {
	path := filepath.Join(dir, "checkpoints", "unet.safetensors")
	f, err := weights.Open(path)
	if err != nil {
		return nil // no checkpoint (the trainer reports other errors)
	}
	defer f.Close()
	if _, ok := f.Info(textPrefix + "final_layer_norm.weight"); ok {
		return fmt.Errorf("sdmini: unet: --resume: %s fine-tuned the text encoder: resume it with --text-lr", path)
	}
	return nil
}

// textLRScale returns AdamW's LRScale for a text encoder trained at
// textLR beside parameters trained at lr: the same schedule, scaled.
func textLRScale(lr, textLR float64) func(name string) float64 {
	return func(name string) float64 {
		if strings.HasPrefix(name, textPrefix) {
			return textLR / lr
		}
		return 1
	}
}

// exportTuned writes the unet stage's averages when it fine-tuned the text
// encoder: the U-Net's to Dir/unet, the text encoder's over
// Dir/text_encoder's weights (the clip stage's are in clipOriginal).
func exportTuned(avg *grad.Params, dir string) error {
	if err := exportParams(textParams(avg, false), "", filepath.Join(dir, unetWeights)); err != nil {
		return err
	}
	return exportParams(avg, textPrefix, filepath.Join(dir, textWeights))
}

// textParams returns the parameters of ps that are the text encoder's
// (text_model.…) when text is true, the others when it is false, as a
// set sharing ps's values.
func textParams(ps *grad.Params, text bool) *grad.Params {
	sub := grad.NewParams()
	for _, name := range ps.Names() {
		if strings.HasPrefix(name, textPrefix) == text {
			sub.Add(name, ps.Get(name).Value)
		}
	}
	return sub
}
