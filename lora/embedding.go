package lora

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Embedding is a textual-inversion embedding: N learned vectors that stand
// in the prompt where its trigger word is written, one token slot each.
type Embedding struct {
	Trigger string     // the word that calls it in a prompt
	Vectors *nn.Tensor // (N, D), D the text encoder's width
	// Vectors2 is an SDXL embedding's vectors for the second text encoder
	// (N, D2), the file's clip_g (Vectors then being its clip_l); nil for
	// SD 1.x and 2.x embeddings.
	Vectors2 *nn.Tensor
	Path     string
	// Hash is the sha256 of the file in hex; AUTOMATIC1111's "TI hashes"
	// record its first 12 digits.
	Hash string
}

// ShortHash is the first 12 hex digits of the hash.
func (e *Embedding) ShortHash() string { return e.Hash[:min(12, len(e.Hash))] }

// OpenEmbedding reads a textual-inversion file:
//
//   - AUTOMATIC1111 .pt / .bin: a pickled dict whose string_to_param holds
//     one tensor (N, D); trigger: the file name without extension;
//   - AUTOMATIC1111 .safetensors: a tensor emb_params (N, D); trigger: the
//     file name;
//   - diffusers learned_embeds.bin / .safetensors: {token: tensor (D) or
//     (N, D)}; trigger: the key (diffusers' rule), one embedding per key;
//   - SDXL (AUTOMATIC1111, kohya-ss): tensors clip_l (N, 768) and clip_g
//     (N, 1280), one per text encoder; trigger: the file name.
//
// Pickles are read with the safe unpickler of package weights: only dicts
// of tensors and plain values, never code.
func OpenEmbedding(path string) ([]*Embedding, error) {
	src, closeFn, err := weights.OpenAny(path)
	if err != nil {
		return nil, fmt.Errorf("embedding: %w", err)
	}
	defer closeFn()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("embedding: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	embs, err := EmbeddingsFromSource(name, src)
	if err != nil {
		return nil, fmt.Errorf("embedding %s: %w", path, err)
	}
	h := sha256Hex(b)
	for _, e := range embs {
		e.Path, e.Hash = path, h
	}
	return embs, nil
}

// EmbeddingsFromSource reads the embeddings of src (see OpenEmbedding);
// name is the file name without extension.
func EmbeddingsFromSource(name string, src weights.Source) ([]*Embedding, error) {
	names := append([]string(nil), src.Names()...)
	sort.Strings(names)
	var params []string
	for _, n := range names {
		if strings.HasPrefix(n, "string_to_param.") {
			params = append(params, n)
		}
	}
	read := func(n, trigger string) (*Embedding, error) {
		in, _ := src.Info(n)
		if !in.DType.Float() {
			return nil, fmt.Errorf("tensor %s: dtype %s, want a floating-point type", n, in.DType)
		}
		t, err := src.Tensor(n)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", n, err)
		}
		switch len(t.Shape) {
		case 1:
			t = t.Reshape(1, t.Shape[0]) // (D) -> (1, D)
		case 2:
		default:
			return nil, fmt.Errorf("tensor %s: shape %v, want (N, D) or (D)", n, t.Shape)
		}
		if t.Shape[0] < 1 || t.Shape[0] > 75 || t.Shape[1] < 1 {
			return nil, fmt.Errorf("tensor %s: shape %v, want 1 to 75 vectors", n, t.Shape)
		}
		if trigger == "" {
			return nil, fmt.Errorf("tensor %s: empty trigger word", n)
		}
		return &Embedding{Trigger: trigger, Vectors: t}, nil
	}
	switch {
	case len(params) > 0:
		if len(params) > 1 {
			return nil, fmt.Errorf("string_to_param holds %d tensors (%s…), want one", len(params), params[0])
		}
		e, err := read(params[0], name)
		if err != nil {
			return nil, err
		}
		return []*Embedding{e}, nil
	case contains(names, "clip_l") && contains(names, "clip_g"):
		e, err := read("clip_l", name)
		if err != nil {
			return nil, err
		}
		g, err := read("clip_g", name)
		if err != nil {
			return nil, err
		}
		if g.Vectors.Shape[0] != e.Vectors.Shape[0] {
			return nil, fmt.Errorf("clip_l has %d vectors, clip_g %d: want as many", e.Vectors.Shape[0], g.Vectors.Shape[0])
		}
		e.Vectors2 = g.Vectors
		return []*Embedding{e}, nil
	case contains(names, "emb_params"):
		e, err := read("emb_params", name)
		if err != nil {
			return nil, err
		}
		return []*Embedding{e}, nil
	case len(names) == 0:
		return nil, fmt.Errorf("no tensors: not a textual-inversion embedding")
	}
	// diffusers: {token: vector}, a few tokens at most.
	if len(names) > 16 {
		return nil, fmt.Errorf("%d tensors (%s…): not a textual-inversion embedding", len(names), names[0])
	}
	for _, n := range names {
		if _, _, ok := splitName(n); ok {
			return nil, fmt.Errorf("tensor %s: a LoRA's, not a textual-inversion embedding", n)
		}
	}
	var out []*Embedding
	for _, n := range names {
		e, err := read(n, n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
