package weights

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// encodeSafetensors writes tensors as an F32 safetensors file in memory.
func encodeSafetensors(tensors map[string]*nn.Tensor) []byte {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	var data []byte
	for _, n := range names {
		t := tensors[n]
		begin := len(data)
		for _, v := range t.Data {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[n] = map[string]any{"dtype": "F32", "shape": t.Shape, "data_offsets": []int{begin, len(data)}}
	}
	h, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

// rawSafetensors assembles a file from a literal header and data section.
func rawSafetensors(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
