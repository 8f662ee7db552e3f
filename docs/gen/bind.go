package main

import (
	"context"
	"fmt"
	fig "github.com/sdgo/sdgo/internal/figure"
	"image"
	"strings"

	"github.com/sdgo/sdgo/bind"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
)

// figBind draws the running example twice, as the sampler makes it and with
// --bind (SynGen, package bind), each image followed by the cross-attention
// maps of the words SynGen binds (the modifiers and nouns of the prompt's
// groups): the maps show where each word landed, and so where its colour
// leaked to.
func (g *gen) figBind() (image.Image, error) {
	m := g.model
	if g.dir == "" {
		return nil, fmt.Errorf("bind: the model's folder is unknown")
	}
	syn, err := bind.Load(g.dir, bind.Options{})
	if err != nil {
		return nil, err
	}
	toks := m.Tokenizer.EncodeWithSpans(g.s.Prompt)
	type word struct {
		text string
		pos  int // in the context, after the start token
	}
	var words []word
	for _, gr := range bind.ParseGroups(g.s.Prompt) {
		for k, start := range gr.Starts {
			text := gr.Noun
			if k < len(gr.Modifiers) {
				text = gr.Modifiers[k]
			}
			for i, t := range toks {
				if t.Start <= start && start < t.End && i+1 < 77 {
					words = append(words, word{text, i + 1})
					break
				}
			}
		}
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("bind: no words to bind in %q", g.s.Prompt)
	}
	var rows [][]fig.Cell
	var labels []string
	for _, b := range []pipeline.Binder{nil, syn} {
		o, err := withSize(m, g.s.options())
		if err != nil {
			return nil, err
		}
		o.Bind = b
		f := m.VAEFactor()
		st := &pipeline.Stages{}
		attn := fig.NewCrossAttention(m.UNet, func() *nn.Tensor { return st.Tensor("context_cond") }, o.Height/f, o.Width/f)
		m.UNet.Trace = attn.Trace
		o.Stages = st
		res, err := m.Generate(context.Background(), o)
		m.UNet.Trace = nil
		if err != nil {
			return nil, err
		}
		if attn.Err() != nil {
			return nil, attn.Err()
		}
		final := res[0].Image
		row := []fig.Cell{{Img: final, Label: "image"}}
		for _, w := range words {
			row = append(row, fig.Cell{Img: fig.Heatmap(attn.MapOf(w.pos), attn.W, attn.H, final), Label: w.text})
		}
		rows = append(rows, row)
		label := "sampler alone"
		if b != nil {
			label = "--bind"
		}
		labels = append(labels, label)
	}
	return fig.Grid(rows, labels, g.s.Side, fmt.Sprintf("the words' cross-attention maps, without and with --bind: %q", strings.TrimSpace(g.s.Prompt))), nil
}
