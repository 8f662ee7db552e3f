package prompt

// Chunk is one CLIP input of a long or weighted prompt: BOS, 75 content
// tokens (padded), EOS — 77 ids — and a weight per position.
type Chunk struct {
	IDs     []int
	Weights []float32
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
		chunks = append(chunks, c)
		ids, ws, lastComma = nil, nil, -1
	}
	for _, s := range segs {
		if s.Break {
			next()
			continue
		}
		w := float32(s.Weight)
		for _, tok := range v.Encode(s.Text) {
			if tok == v.Comma {
				lastComma = len(ids)
			} else if len(ids) == Length && lastComma != -1 && len(ids)-lastComma <= commaBacktrack {
				cut := lastComma + 1
				relocIDs := append([]int(nil), ids[cut:]...)
				relocWs := append([]float32(nil), ws[cut:]...)
				ids, ws = ids[:cut], ws[:cut]
				next()
				ids, ws = relocIDs, relocWs
			}
			if len(ids) == Length {
				next()
			}
			ids = append(ids, tok)
			ws = append(ws, w)
		}
	}
	if len(ids) > 0 || len(chunks) == 0 {
		next()
	}
	return chunks
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
