package pipeline

import (
	"fmt"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/prompt"
	"github.com/sdgo/sdgo/tokenizer"
)

// conditioning encodes the prompt and, when guidance is on, the negative
// prompt: each (1, 77·k, D), k chunks of 77 tokens. The shorter one is padded
// with encodings of the empty prompt so both have the same length, as
// AUTOMATIC1111 does.
func (m *Model) conditioning(o Options) (cond, uncond *nn.Tensor, err error) {
	if o.xl != nil {
		return m.conditioningXL(o) // SDXL: two encoders, pooled embeddings
	}
	var idsC, idsU []int
	if cond, idsC, err = m.encodePromptWith(o.Prompt, o.ClipSkip, o); err != nil {
		return nil, nil, err
	}
	o.Stages.addIDs("ids_cond", idsC)
	o.Stages.add(-1, "context_cond", cond)
	if o.CFGScale <= 1 {
		return cond, nil, nil
	}
	if uncond, idsU, err = m.encodePromptWith(o.NegativePrompt, o.ClipSkip, o); err != nil {
		return nil, nil, err
	}
	o.Stages.addIDs("ids_uncond", idsU)
	o.Stages.add(-1, "context_uncond", uncond)
	if cond.Shape[1] != uncond.Shape[1] {
		empty, _, err := m.encodePromptWith("", o.ClipSkip, o)
		if err != nil {
			return nil, nil, err
		}
		for cond.Shape[1] < uncond.Shape[1] {
			cond = catTokens(cond, empty)
		}
		for uncond.Shape[1] < cond.Shape[1] {
			uncond = catTokens(uncond, empty)
		}
	}
	return cond, uncond, nil
}

// encodePrompt parses emphasis, splits the prompt into 77-token chunks,
// encodes each with the text encoder and applies the weights: (1, 77·k, D).
func (m *Model) encodePrompt(text string, clipSkip int) (*nn.Tensor, []int, error) {
	return m.encodePromptWith(text, clipSkip, Options{})
}

// encodePromptWith is encodePrompt where the textual-inversion embeddings
// of o.adapters whose trigger words the text holds take their slots
// (recorded in o.usedTI).
func (m *Model) encodePromptWith(text string, clipSkip int, o Options) (*nn.Tensor, []int, error) {
	tok := m.Tokenizer
	comma, ok := tok.ID(",</w>")
	if !ok {
		comma = -1
	}
	pad := tok.EOS()
	if m.Pad == tokenizer.PadSD2 {
		pad = 0
	}
	var embeds []*lora.Embedding
	if o.adapters != nil {
		embeds = o.adapters.embeds
	}
	chunks := prompt.Chunks(prompt.Parse(text), prompt.Vocab{
		Encode: tok.Encode, BOS: tok.BOS(), EOS: tok.EOS(), Pad: pad, Comma: comma,
		Triggers: m.triggers(embeds),
	})
	skip := m.TextSkip + clipSkip - 1
	var out *nn.Tensor
	var ids []int
	for _, c := range chunks {
		vectors, err := m.embeddingVectors(c, embeds, o.usedTI)
		if err != nil {
			return nil, nil, err
		}
		z, err := m.Text.Encode([][]int{c.IDs}, clip.EncodeOptions{ClipSkip: skip, Vectors: vectors}) // (1, 77) -> (1, 77, D)
		if err != nil {
			return nil, nil, fmt.Errorf("text encoder: %w", err)
		}
		prompt.Emphasize(z.Data, z.Shape[2], c.Weights)
		ids = append(ids, c.IDs...)
		if out == nil {
			out = z
		} else {
			out = catTokens(out, z)
		}
	}
	return out, ids, nil
}

// catTokens joins two (1, L, D) tensors along the tokens: (1, L1+L2, D).
func catTokens(a, b *nn.Tensor) *nn.Tensor {
	data := append(append([]float32(nil), a.Data...), b.Data...)
	return nn.From(data, 1, a.Shape[1]+b.Shape[1], a.Shape[2])
}
