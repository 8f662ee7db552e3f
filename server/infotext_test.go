package server

import (
	"fmt"
	"testing"
)

// The parameters' last line is split as AUTOMATIC1111 splits it: a quoted
// value (Lora hashes, TI hashes) keeps its commas and colons.
func TestParseInfotext(t *testing.T) {
	text := "a castle <lora:watercolor:0.8> <lora:ink:-0.5>, by easynegative\nNegative prompt: easynegative\n" +
		`Steps: 20, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: v1-5, RNG: CPU, ` +
		`Lora hashes: "watercolor: 0123456789ab, ink: ba9876543210", TI hashes: "easynegative: c0ffee000000", Version: sdgo`
	got := parseInfotext(text)
	for k, want := range map[string]string{
		"Prompt":          "a castle <lora:watercolor:0.8> <lora:ink:-0.5>, by easynegative",
		"Negative prompt": "easynegative",
		"Steps":           "20",
		"Sampler":         "DPM++ 2M",
		"CFG scale":       "7.5",
		"Size":            "512x512",
		"Lora hashes":     "watercolor: 0123456789ab, ink: ba9876543210",
		"TI hashes":       "easynegative: c0ffee000000",
		"Version":         "sdgo",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if len(got) != 12 {
		t.Errorf("%d fields, want 12: %s", len(got), fmt.Sprint(got))
	}
}
