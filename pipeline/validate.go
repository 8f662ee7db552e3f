package pipeline

import (
	"fmt"
	"math"
	"strings"

	"github.com/sdgo/sdgo/prompt"
)

// Range is the interval a float setting accepts, with the reason for its
// bounds, which the error names.
type Range struct {
	Min, Max float64
	Why      string
}

// The ranges of the float settings. Every one rejects NaN and ±Inf.
var (
	// CFGScaleRange bounds the guidance scale: at 100 the guided
	// prediction is already a hundred times the difference of the two
	// predictions, which only saturates the image (AUTOMATIC1111's slider
	// stops at 30).
	CFGScaleRange = Range{0, 100, "guidance beyond 100 only saturates the image (AUTOMATIC1111's slider stops at 30)"}
	// StrengthRange bounds img2img's strength: the share of the sampling
	// schedule that is run again.
	StrengthRange = Range{0, 1, "strength is the share of the noise schedule run again, 0 to 1"}
	// PromptWeightRange bounds the attention weight of a part of the prompt,
	// (word:w) or the product of nested brackets: past ±10 the weighted
	// tokens swamp the rest of the prompt.
	PromptWeightRange = Range{-10, 10, "past ±10 the weighted words swamp the rest of the prompt"}
	// LoRAWeightRange bounds the multiplier of an adapter (<lora:name:w>):
	// models are trained for about ±1, and past ±10 the adapter's change
	// overwhelms the base weights.
	LoRAWeightRange = Range{-10, 10, "past ±10 an adapter overwhelms the model's own weights"}
)

// Check returns an error when v is NaN, infinite or outside the range. The
// error says what was given and what is wanted; callers prefix the name of
// the flag or field.
func (r Range) Check(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("must be a finite number in [%g, %g], got %g", r.Min, r.Max, v)
	case v < r.Min || v > r.Max:
		return fmt.Errorf("must be in [%g, %g], got %g: %s", r.Min, r.Max, v, r.Why)
	}
	return nil
}

// CheckPromptWeights returns an error naming the first part of text whose
// attention weight ((word:w), nested brackets) is outside PromptWeightRange.
func CheckPromptWeights(text string) error {
	for _, s := range prompt.Parse(text) {
		if s.Break {
			continue
		}
		if err := PromptWeightRange.Check(s.Weight); err != nil {
			return fmt.Errorf("the weight of %q %w", strings.TrimSpace(s.Text), err)
		}
	}
	return nil
}

// checkNumbers checks the float options and the prompts' weights.
func (o Options) checkNumbers() error {
	if err := CFGScaleRange.Check(o.CFGScale); err != nil {
		return fmt.Errorf("cfg scale %w", err)
	}
	if o.InitImage != nil {
		if err := StrengthRange.Check(o.Strength); err != nil {
			return fmt.Errorf("strength %w", err)
		}
	}
	if err := CheckPromptWeights(o.Prompt); err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	if err := CheckPromptWeights(o.NegativePrompt); err != nil {
		return fmt.Errorf("negative prompt: %w", err)
	}
	return nil
}
