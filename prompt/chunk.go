package prompt

// Chunk is one CLIP input of a long or weighted prompt: BOS, 75 content
// tokens (padded), EOS — 77 ids — and a weight per position.
type Chunk struct {
	IDs     []int
	Weights []float32
	// Embeds lists the textual-inversion embeddings placed in the chunk.
	Embeds []Placed
}

// Trigger is a textual-inversion embedding as the chunker sees it: the BPE
// ids its trigger word tokenizes to, and how many vectors (token slots,
// 1…75) it takes.
type Trigger struct {
	IDs     []int
	Vectors int
}

// Placed is an embedding put into a chunk: Vocab.Triggers[Trigger] takes
// the slots Pos, Pos+1, … of Chunk.IDs (which hold the placeholder id 0
// there, as AUTOMATIC1111 passes).
type Placed struct {
	Trigger, Pos int
}

// Vocab says how to tokenize and frame a chunk.
type Vocab struct {
	// Encode turns text into BPE ids without BOS/EOS or truncation.
	Encode func(text string) []int
	BOS    int // 49406 in CLIP
	EOS    int // 49407 in CLIP
	// Pad fills positions after the EOS: EOS for SD 1.x, 0 for SD 2.x.
	Pad int
	// Comma is the id of ",</w>" (267 in CLIP); -1 disables the comma rule.
	Comma int
	// Triggers are the textual-inversion embeddings the prompt may name:
	// where a trigger's ids stand in a segment's tokens (the longest one
	// when several match), its vectors take that many slots instead, never
	// split between two chunks (AUTOMATIC1111's rule).
	Triggers []Trigger
}

// Length is the number of content tokens in one chunk (77 minus BOS and EOS).
const Length = 75

// commaBacktrack is the web UI's default "comma padding backtrack": when a
// chunk fills up, content after the last comma within this many tokens moves
// to the next chunk, so phrases are not cut in half.
const commaBacktrack = 20

// Chunks tokenizes weighted segments into 77-token chunks as the web UI does:
// each segment's tokens carry its weight; a chunk closes when it holds 75
// tokens (moving back to just after a recent comma) or at BREAK; a prompt
// always gives at least one chunk.
func Chunks(segs []Segment, v Vocab) []Chunk {
	var chunks []Chunk
	var ids []int
	var ws []float32
	var embeds []Placed // positions in ids, without the BOS
	lastComma := -1
	next := func() {
		for len(ids) < Length {
			ids = append(ids, v.EOS)
			ws = append(ws, 1)
		}
		c := Chunk{IDs: make([]int, 0, Length+2), Weights: make([]float32, 0, Length+2)}
		c.IDs = append(append(append(c.IDs, v.BOS), ids...), v.EOS)
		c.Weights = append(append(append(c.Weights, 1), ws...), 1)
		// Positions after the first EOS hold the pad id (SD 2.x pads with 0).
		for i := 1; i < len(c.IDs); i++ {
			if c.IDs[i] == v.EOS {
				for j := i + 1; j < len(c.IDs); j++ {
					c.IDs[j] = v.Pad
				}
				break
			}
		}
		for _, e := range embeds {
			c.Embeds = append(c.Embeds, Placed{Trigger: e.Trigger, Pos: e.Pos + 1})
		}
		chunks = append(chunks, c)
		ids, ws, embeds, lastComma = nil, nil, nil, -1
	}
	for _, s := range segs {
		if s.Break {
			next()
			continue
		}
		w := float32(s.Weight)
		toks := v.Encode(s.Text)
		for pos := 0; pos < len(toks); {
			tok := toks[pos]
			if tok == v.Comma {
				lastComma = len(ids)
			} else if len(ids) == Length && lastComma != -1 && len(ids)-lastComma <= commaBacktrack {
				cut := lastComma + 1
				relocIDs := append([]int(nil), ids[cut:]...)
				relocWs := append([]float32(nil), ws[cut:]...)
				var keep, reloc []Placed
				for _, e := range embeds {
					if e.Pos >= cut {
						reloc = append(reloc, Placed{Trigger: e.Trigger, Pos: e.Pos - cut})
					} else {
						keep = append(keep, e)
					}
				}
				ids, ws, embeds = ids[:cut], ws[:cut], keep
				next()
				ids, ws, embeds = relocIDs, relocWs, reloc
			}
			if len(ids) == Length {
				next()
			}
			t, n := matchTrigger(v.Triggers, toks, pos)
			if t < 0 {
				ids = append(ids, tok)
				ws = append(ws, w)
				pos++
				continue
			}
			k := v.Triggers[t].Vectors
			if len(ids)+k > Length {
				next()
			}
			embeds = append(embeds, Placed{Trigger: t, Pos: len(ids)})
			for range k {
				ids = append(ids, 0)
				ws = append(ws, w)
			}
			pos += n
		}
	}
	if len(ids) > 0 || len(chunks) == 0 {
		next()
	}
	return chunks
}

// matchTrigger returns the index of the longest trigger whose ids start at
// toks[pos] and its length in tokens, or -1.
func matchTrigger(triggers []Trigger, toks []int, pos int) (index, n int) {
	index = -1
	for i, t := range triggers {
		if len(t.IDs) == 0 || len(t.IDs) <= n || pos+len(t.IDs) > len(toks) || t.Vectors < 1 || t.Vectors > Length {
			continue
		}
		match := true
		for j, id := range t.IDs {
			if toks[pos+j] != id {
				match = false
				break
			}
		}
		if match {
			index, n = i, len(t.IDs)
		}
	}
	return index, n
}

// Weighted reports whether any weight of the chunks differs from 1.
func Weighted(chunks []Chunk) bool {
	for _, c := range chunks {
		for _, w := range c.Weights {
			if w != 1 {
				return true
			}
		}
	}
	return false
}
