package clip

import (
	"fmt"

	"github.com/x448/float16"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Embeddings turns token ids into the transformer's input: each token's
// learned vector plus a learned vector for its position
// (checkpoint: text_model.embeddings).
type Embeddings struct {
	TokenEmbedding    *nn.Tensor // (VocabSize, D): row i is token i's vector
	PositionEmbedding *nn.Tensor // (Positions, D): row i is position i's vector
}

func loadEmbeddings(ld *weights.Loader, cfg Config) *Embeddings {
	e := &Embeddings{
		// The token table may stay in half precision like the other weights
		// (a few of its rows are read per prompt, so it costs almost no memory
		// when read from the file's mapping); the small position table is float32.
		TokenEmbedding:    ld.Sub("token_embedding").Tensor("weight", cfg.VocabSize, cfg.Width),
		PositionEmbedding: ld.WithPrecision(weights.KeepFloat32).Sub("position_embedding").Tensor("weight", cfg.Positions, cfg.Width),
	}
	// Checkpoints saved by transformers < 4.31 also carry the int64 buffer
	// position_ids = [0, 1, …, 76]: positions are simply 0…L-1, so it is skipped.
	ld.Skip("position_ids")
	return e
}

// Forward looks up ids (B rows of L ids) and returns x (B, L, D) with
// x[b, i] = TokenEmbedding[ids[b][i]] + PositionEmbedding[i].
func (e *Embeddings) Forward(ids [][]int) (*nn.Tensor, error) {
	return e.ForwardVectors(ids, nil)
}

// ForwardVectors is Forward with the token vectors of some positions given:
// at position i with vectors[i] set, x[b, i] = vectors[i] +
// PositionEmbedding[i] in every row b, whatever ids[b][i] says. Textual
// inversion puts its learned vectors into the prompt this way.
func (e *Embeddings) ForwardVectors(ids [][]int, vectors map[int][]float32) (*nn.Tensor, error) {
	vocab, d := e.TokenEmbedding.Shape[0], e.TokenEmbedding.Shape[1]
	positions := e.PositionEmbedding.Shape[0]
	b, l := len(ids), len(ids[0])
	if l > positions {
		return nil, fmt.Errorf("clip: %d tokens, the model has %d positions", l, positions)
	}
	x := nn.New(b, l, d) // (B, L, D)
	tok := make([]float32, d)
	for bi, row := range ids {
		if len(row) != l {
			return nil, fmt.Errorf("clip: prompt %d has %d tokens, prompt 0 has %d", bi, len(row), l)
		}
		for i, id := range row {
			if id < 0 || id >= vocab {
				return nil, fmt.Errorf("clip: prompt %d, token %d: id %d outside the vocabulary [0, %d)", bi, i, id, vocab)
			}
			dst := x.Data[(bi*l+i)*d : (bi*l+i+1)*d]
			if v, ok := vectors[i]; ok {
				if len(v) != d {
					return nil, fmt.Errorf("clip: position %d: a vector of %d values, the model's width is %d", i, len(v), d)
				}
				copy(tok, v)
			} else {
				tableRow(tok, e.TokenEmbedding, id)
			}
			pos := e.PositionEmbedding.Data[i*d : (i+1)*d]
			for j := range dst {
				dst[j] = tok[j] + pos[j]
			}
		}
	}
	return x, nil
}

// tableRow copies row i of the table t (float32 or half precision) to dst.
func tableRow(dst []float32, t *nn.Tensor, i int) {
	d := len(dst)
	if t.Half == nil {
		copy(dst, t.Data[i*d:(i+1)*d])
		return
	}
	for j, h := range t.Half[i*d : (i+1)*d] {
		dst[j] = float16.Frombits(h).Float32()
	}
}
