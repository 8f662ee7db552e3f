package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/prompt"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/shapes"
)

// isSDMini reports whether m has sd-mini's shapes (the built-in model, or a
// copy of it given with -m).
func isSDMini(m *pipeline.Model) bool {
	return slices.Equal(m.UNet.Config.BlockOutChannels, sdmini.UNetConfig().BlockOutChannels) &&
		m.Text.Config.Width == sdmini.TextConfig(0).Width && m.Text.Config.VocabSize < 1000
}

// warnSDMiniWords names, for sd-mini, the prompt's words outside the
// caption grammar it was trained on: it has never seen them, and makes a
// shape picture whatever they say. Real models get no such warning.
func warnSDMiniWords(w io.Writer, m *pipeline.Model, text string) {
	if !isSDMini(m) {
		return
	}
	unknown := shapes.UnknownWords(encodedText(text))
	if len(unknown) == 0 {
		return
	}
	quoted := make([]string, len(unknown))
	for i, u := range unknown {
		quoted[i] = fmt.Sprintf("%q", u)
	}
	fmt.Fprintf(w, "sdgo: warning: sd-mini, the built-in model, draws only coloured circles, squares and triangles and knows nothing of %s; "+
		"try \"a large red circle on the left on a white background\" or \"a blue square above a yellow triangle\", or pass a real model with -m\n",
		strings.Join(quoted, ", "))
}

// encodedText is the text of a prompt that reaches the text encoder: its
// <lora:…> tags, BREAK keywords, brackets and (word:w) weights removed.
func encodedText(text string) string {
	var parts []string
	for _, s := range prompt.Parse(pipeline.StripExtraNetworks(text)) {
		if !s.Break {
			parts = append(parts, s.Text)
		}
	}
	return strings.Join(parts, " ")
}
