package lora

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// safetensors builds a file of F32 tensors of the given names and shapes
// filled with small values.
func safetensors(tensors map[string][]int) []byte {
	header := map[string]any{}
	var data []byte
	r := rand.New(rand.NewPCG(1, 2))
	for name, shape := range tensors {
		n := nn.Numel(shape)
		begin := len(data)
		for range n {
			data = binary.LittleEndian.AppendUint32(data, uint32(r.Uint32()&0x3f7fffff))
		}
		header[name] = map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int{begin, len(data)}}
	}
	h, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

// FuzzAdapter reads random files as adapters and embeddings: names and
// shapes from the fuzzer. Reading, checking against model shapes and
// merging must fail with errors, never panic.
func FuzzAdapter(f *testing.F) {
	f.Add(safetensors(map[string][]int{
		"lora_unet_a_to_q.lora_down.weight": {2, 8}, "lora_unet_a_to_q.lora_up.weight": {8, 2}, "lora_unet_a_to_q.alpha": {},
	}))
	f.Add(safetensors(map[string][]int{
		"lora_unet_b.hada_w1_a": {8, 2}, "lora_unet_b.hada_w1_b": {2, 72}, "lora_unet_b.hada_w2_a": {8, 2}, "lora_unet_b.hada_w2_b": {2, 72},
	}))
	f.Add(safetensors(map[string][]int{"lora_te_c.lokr_w1": {2, 2}, "lora_te_c.lokr_w2_a": {4, 1}, "lora_te_c.lokr_w2_b": {1, 4}, "lora_te_c.alpha": {}}))
	f.Add(safetensors(map[string][]int{"unet.d.lora_A.weight": {2, 8, 3, 3}, "unet.d.lora_B.weight": {8, 2, 1, 1}}))
	f.Add(safetensors(map[string][]int{"emb_params": {3, 8}}))
	f.Add(safetensors(map[string][]int{"<toy>": {8}}))
	targets := [][]int{{8, 8}, {8, 8, 3, 3}, {8, 72}, {4, 8}}
	f.Fuzz(func(t *testing.T, b []byte) {
		src, err := weights.Parse("fuzz.safetensors", b)
		if err != nil {
			return
		}
		for _, n := range src.Names() {
			if in, _ := src.Info(n); nn.Numel(in.Shape) > 1<<16 {
				return // keep each run small
			}
		}
		EmbeddingsFromSource("fuzz", src)
		a, err := FromSource("fuzz", src)
		if err != nil {
			return
		}
		for _, m := range a.Modules {
			for _, shape := range targets {
				if m.Check(shape) == nil {
					d, err := m.Delta(shape)
					if err != nil || len(d) != nn.Numel(shape) {
						t.Fatalf("%s: Check passed for %v but Delta gave %d values, %v", m.Key, shape, len(d), err)
					}
				}
			}
		}
		// Merge into a small model whose module names are the file's own.
		unet := map[string]*nn.Tensor{}
		for i, m := range a.Modules {
			unet[m.Key+".weight"] = nn.New(targets[i%len(targets)]...)
		}
		ix := &Index{keys: map[string]string{}, weights: map[string]*nn.Tensor{}}
		for n, w := range unet {
			ix.keys[n[:len(n)-len(".weight")]] = n
			ix.weights[n] = w
		}
		if p, err := Apply(ix, []Use{{Adapter: a, Multiplier: 0.5}}, true); err == nil {
			p.Undo()
		}
	})
}
