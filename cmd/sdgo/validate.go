package main

import "github.com/sdgo/sdgo/pipeline"

// checkNumbers checks the float flags and the prompts' (word:w) weights:
// no NaN, no ±Inf, each within its range (the error says why).
func (f *genFlags) checkNumbers() error {
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
